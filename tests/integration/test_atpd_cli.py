#!/usr/bin/python3
"""test_atpd_cli.py - atpd's command line and start-up, through the binary.

- --version, --help, an unknown option, a stray argument: exit codes 0/0/2/2
  and the text on the documented stream.
- --check-config: a valid file (exit 0, the counts on stdout), a file with
  two problems (exit 1, both with line:column, "invalid configuration"), a
  missing file (exit 1, the system's reason); it starts nothing.
- --config with an invalid file and --log-level with an unknown level: atpd
  refuses to start (exit 1 / 2) with a message that says why.
- Every override (--query-listen, --ingest-listen, --feed-listen,
  --control-listen, --data-dir, --log-level): atpd listens where the
  command line says and not where the file says, keeps its data in the
  given dir, logs at debug; also with no --config at all (defaults).
- A listen address already in use (each of the four sockets): atpd exits 1
  naming the address, and removes nothing it did not create.
- A data dir that cannot be created, and one that is a regular file: exit 1,
  "cannot create data directory" / "cannot open the store".
- A listen address nng cannot listen on although the pre-flight check lets
  it pass (an ipc:// socket in a missing directory, each of the four
  sockets): exit 1 naming the address; a ready file that cannot be written:
  exit 1 naming it, and nothing left listening.
- SIGHUP to an atpd started without --config: it says there is nothing to
  reload and keeps answering.
"""

import os
import re
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

TF = harness.TIME_FACTOR
URL_KEYS = ("query_listen", "ingest_listen", "feed_listen", "control_listen")


def run_atpd(h, args, timeout_s=30):
    """Run atpd ARGS that must exit by itself; returns (rc, stdout, stderr)."""
    p = harness._spawn([h.atpd_bin] + [str(a) for a in args], cwd=h.tmp,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout_s * TF)
    except subprocess.TimeoutExpired:
        harness._stop_pid(p, 5)
        raise TestFailure("atpd %s did not exit within %.0f s" % (args, timeout_s * TF))
    return p.returncode, out, err


def explicit_ports(svc):
    """Give every listen address of svc a port of its own instead of the
    harness's port 0: this test is about addresses named on the command
    line and in the file, so it must know them before atpd starts (the one
    test that chooses ports by bind-and-release; nothing else races it for
    them within the test's own sockets)."""
    for k, port in zip(URL_KEYS, harness.free_ports(len(URL_KEYS))):
        svc[k] = "tcp://127.0.0.1:%d" % port
    return svc


def small_config(h):
    cfg = harness.build_config(
        h, ["east", "west"], [("DC-1", "east"), ("DC-2", "east"), ("DC-3", "west")],
        [harness.source_entry("wms", [(["DC-1", "DC-2", "DC-3"],
                                       ["on_hand", "allocated", "held"])])],
        channels=("web",))
    explicit_ports(cfg["service"])
    return cfg


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def port_of(url):
    return int(url.rsplit(":", 1)[1])


def listening(port):
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2 * TF).close()
        return True
    except OSError:
        return False


def check_simple_flags(h, c):
    rc, out, err = run_atpd(h, ["--version"])
    c.eq(rc, 0, "--version exit code")
    c.check(out.startswith("atpd ") and "wire protocol" in out,
            "--version prints the version on stdout: %r", out)
    rc, out, err = run_atpd(h, ["--help"])
    c.eq(rc, 0, "--help exit code")
    c.check("usage: atpd" in out and "--check-config" in out and err == "",
            "--help prints the usage on stdout only: out %r err %r", out[:200], err[:200])
    rc, out, err = run_atpd(h, ["--no-such-option"])
    c.eq(rc, 2, "unknown option exit code")
    c.check("usage: atpd" in err and out == "",
            "an unknown option prints the usage on stderr: %r", err[:300])
    rc, out, err = run_atpd(h, ["stray.yaml"])
    c.eq(rc, 2, "stray argument exit code")
    c.check("unexpected argument 'stray.yaml'" in err,
            "a stray argument is named: %r", err[:300])


def check_check_config(h, c):
    cfg = small_config(h)
    good = write(os.path.join(h.tmp, "good.yaml"), harness.to_yaml(cfg) + "\n")
    rc, out, err = run_atpd(h, ["--check-config", good])
    c.eq(rc, 0, "--check-config on a valid file: exit code")
    c.eq(out.strip(), "%s: ok (2 regions, 3 locations, 2 channels, 1 sources, "
         "0 buffer rules, 0 bundles)" % good, "--check-config on a valid file: stdout")
    c.check(not os.path.exists(cfg["service"]["data_dir"]),
            "--check-config creates no data dir")
    c.check(not listening(port_of(cfg["service"]["query_listen"])),
            "--check-config listens on nothing")

    # Two problems: an unknown key (line 3) and a location in an unknown
    # region (line 6). Both are listed, in file order, with line:column.
    bad = write(os.path.join(h.tmp, "bad.yaml"),
                "regions:\n"
                "  - id: east\n"
                "    horizon: 5s\n"
                "locations:\n"
                "  - id: DC-1\n"
                "    region: nowhere\n")
    rc, out, err = run_atpd(h, ["--check-config", bad])
    c.eq(rc, 1, "--check-config on an invalid file: exit code")
    lines = err.strip().splitlines()
    c.check(len(lines) == 3 and lines[0].startswith(bad + ":3:5: ")
            and "horizon" in lines[0] and lines[1].startswith(bad + ":6:13: ")
            and "nowhere" in lines[1] and lines[2] == bad + ": invalid configuration",
            "--check-config lists both problems with line:column, then the verdict: %r",
            lines)
    c.eq(out, "", "--check-config on an invalid file: nothing on stdout")

    missing = os.path.join(h.tmp, "missing.yaml")
    rc, out, err = run_atpd(h, ["--check-config", missing])
    c.eq(rc, 1, "--check-config on a missing file: exit code")
    c.check(err.startswith(missing + ": cannot open") and "No such file" in err,
            "--check-config on a missing file says why, without a line: %r", err)

    # Starting with the invalid file: the same diagnostics, then a pointer
    # to --check-config; nothing is created.
    rc, out, err = run_atpd(h, ["--config", bad])
    c.eq(rc, 1, "atpd --config <invalid>: exit code")
    c.check((bad + ":3:5: ") in err and "cannot use configuration " + bad in err
            and "--check-config" in err,
            "atpd --config <invalid> explains and points at --check-config: %r", err)

    rc, out, err = run_atpd(h, ["--config", good, "--log-level", "loud"])
    c.eq(rc, 2, "atpd --log-level <unknown>: exit code")
    c.check("unknown log level 'loud'" in err, "an unknown log level is named: %r", err)
    c.check(not os.path.exists(cfg["service"]["data_dir"]),
            "a refused start creates no data dir")


class ArgAtpd(harness.Atpd):
    """atpd started with extra command-line arguments; queries go to
    query_url (the overridden address when there is one)."""

    def __init__(self, h, cfg, name, args, query_url, with_config=True):
        super().__init__(h, cfg, name)
        self.args = list(args)
        self.with_config = with_config
        self.query_url = query_url
        self.query_port = port_of(query_url)

    def start(self, ready_timeout_s=30):
        argv = [self.h.atpd_bin] + (["--config", self.config_path] if self.with_config
                                    else []) + self.args
        with open(self.stderr_path, "ab") as errf, open(self.stdout_path, "ab") as outf:
            self.proc = harness._spawn(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                       stdout=outf, stderr=errf)
        self.h.daemons.append(self)

        def ready():
            self.check_alive()
            rc, obj, _ = self.ctl_raw("status", timeout_s=3)
            return rc == 0 and isinstance(obj, dict) and obj.get("ok") is True
        harness.wait_until(ready, ready_timeout_s, 0.1, "atpd to answer on %s"
                           % self.query_url)
        return self


def check_overrides(h, c):
    cfg = small_config(h)
    fresh = explicit_ports(h.config()["service"])  # four more ports, another data dir
    args = []
    for k in URL_KEYS:
        args += ["--" + k.replace("_", "-"), fresh[k]]
    args += ["--data-dir", fresh["data_dir"], "--log-level", "debug"]
    d = ArgAtpd(h, cfg, "override", args, fresh["query_listen"]).start()
    st = d.ctl("status")
    c.check(st.get("ok") is True, "atpd answers on the --query-listen address")
    for k in URL_KEYS:
        c.check(listening(port_of(fresh[k])), "atpd listens on --%s %s", k, fresh[k])
        c.check(not listening(port_of(cfg["service"][k])),
                "atpd does not listen on the file's %s %s", k, cfg["service"][k])
    c.check(os.path.isdir(fresh["data_dir"]) and not os.path.exists(cfg["service"]["data_dir"]),
            "the store is in --data-dir, not in the file's data_dir")

    # The source feed arrives on the overridden ingest address.
    q = harness.Client(port_of(fresh["query_listen"]), d=d)
    pub = harness.Publisher(d, q)
    d.ingest_port = port_of(fresh["ingest_listen"])
    pub.send_payload(pub.next_batch("wms", [[2, "A1", "DC-1", 0, 7]])[1])
    pub.wait_applied("wms")
    c.eq(q.atp("A1", "east").get("atp"), 7, "ATP of an event sent to --ingest-listen")
    pub.close()
    q.close()
    c.eq(d.stop(), 0, "atpd with overrides stops cleanly")
    with open(d.stderr_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    c.check(re.search(r"Z debug +engine +snapshot: ", text) is not None,
            "--log-level debug prints debug lines (the snapshot's)")

    # No --config at all: the defaults, with every address overridden.
    fresh = explicit_ports(h.config()["service"])
    args = []
    for k in URL_KEYS:
        args += ["--" + k.replace("_", "-"), fresh[k]]
    args += ["--data-dir", fresh["data_dir"]]
    d = ArgAtpd(h, {"service": fresh}, "defaults", args, fresh["query_listen"],
                with_config=False).start()
    st = d.ctl("status")
    c.check(st.get("regions") == 1 and st.get("locations") == 0,
            "with no --config: one region, no locations: %r", st)
    c.eq(d.ctl("atp", "A1", "default").get("atp"), 0,
         "with no --config the region 'default' answers")
    # SIGHUP with no file to read again: said in the log, nothing changes.
    os.kill(d.pid, signal.SIGHUP)

    def said():
        with open(d.stderr_path, "rb") as f:
            return b"SIGHUP: atpd runs without --config: nothing to reload" in f.read()
    harness.wait_until(said, 10, 0.05, "atpd to log that it has nothing to reload")
    st = d.ctl("status")
    c.check(st.get("regions") == 1 and st.get("locations") == 0,
            "after SIGHUP with no --config atpd still answers, unchanged: %r", st)
    c.eq(d.stop(), 0, "atpd with defaults stops cleanly")


def check_port_in_use(h, c):
    """Each of the four listen addresses taken by another socket."""
    for k in URL_KEYS:
        cfg = small_config(h)
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen(1)
            url = "tcp://127.0.0.1:%d" % blocker.getsockname()[1]
            cfg["service"][k] = url
            path = write(os.path.join(h.tmp, "inuse-%s.yaml" % k), harness.to_yaml(cfg) + "\n")
            rc, out, err = run_atpd(h, ["--config", path])
        finally:
            blocker.close()
        c.eq(rc, 1, "%s in use: exit code" % k)
        c.check(("cannot listen on %s" % url) in err and "start-up failed" in err,
                "%s in use: atpd names the address: %s", k, err[-600:])
        for other in URL_KEYS:
            if other != k:
                c.check(not listening(port_of(cfg["service"][other])),
                        "%s in use: atpd closed %s before exiting", k, other)


def check_bad_data_dir(h, c):
    cfg = small_config(h)
    cfg["service"]["data_dir"] = os.path.join(h.tmp, "no", "such", "parent")
    path = write(os.path.join(h.tmp, "nodir.yaml"), harness.to_yaml(cfg) + "\n")
    rc, out, err = run_atpd(h, ["--config", path])
    c.eq(rc, 1, "data dir under a missing parent: exit code")
    c.check("cannot create data directory %s" % cfg["service"]["data_dir"] in err
            and "cannot open the store" in err,
            "data dir under a missing parent: atpd says so: %s", err[-600:])

    afile = write(os.path.join(h.tmp, "plain-file"), "not a directory\n")
    rc, out, err = run_atpd(h, ["--config", path, "--data-dir", afile])
    c.eq(rc, 1, "data dir that is a regular file: exit code")
    c.check("cannot open the store in %s" % afile in err,
            "data dir that is a regular file: atpd says so: %s", err[-600:])
    with open(afile) as f:
        c.eq(f.read(), "not a directory\n", "the regular file is left as it was")


def check_listen_fails(h, c):
    """nng refuses to listen although listen_check (which probes only
    tcp:// addresses) let the address pass: an ipc:// socket in a directory
    that does not exist. Each of the four sockets in turn; the others are
    closed again before atpd exits."""
    for k in URL_KEYS:
        cfg = small_config(h)
        url = "ipc://%s/no-such-dir/%s.ipc" % (h.tmp, k)
        cfg["service"][k] = url
        path = write(os.path.join(h.tmp, "ipc-%s.yaml" % k), harness.to_yaml(cfg) + "\n")
        rc, out, err = run_atpd(h, ["--config", path])
        c.eq(rc, 1, "%s %s: exit code" % (k, url))
        c.check(("cannot listen on %s" % url) in err and "start-up failed" in err,
                "%s that nng refuses: atpd names the address: %s", k, err[-600:])
        for other in URL_KEYS:
            if other != k:
                c.check(not listening(port_of(cfg["service"][other])),
                        "%s refused: atpd closed %s before exiting", k, other)


def check_ready_file_fails(h, c):
    cfg = small_config(h)
    path = write(os.path.join(h.tmp, "ready.yaml"), harness.to_yaml(cfg) + "\n")
    ready = os.path.join(h.tmp, "no-such-dir", "ready.json")
    rc, out, err = run_atpd(h, ["--config", path, "--ready-file", ready])
    c.eq(rc, 1, "unwritable ready file: exit code")
    c.check(("cannot write the ready file %s" % ready) in err and "No such file" in err,
            "unwritable ready file: atpd names it and says why: %s", err[-600:])
    for k in URL_KEYS:
        c.check(not listening(port_of(cfg["service"][k])),
                "unwritable ready file: atpd closed %s before exiting", k)


def main(h):
    c = harness.Checks(h)
    h.log("simple flags")
    check_simple_flags(h, c)
    h.log("--check-config and refused starts")
    check_check_config(h, c)
    h.log("address and data dir overrides")
    check_overrides(h, c)
    h.log("listen addresses in use")
    check_port_in_use(h, c)
    h.log("bad data dirs")
    check_bad_data_dir(h, c)
    h.log("listen addresses nng refuses")
    check_listen_fails(h, c)
    h.log("a ready file that cannot be written")
    check_ready_file_fails(h, c)
    c.done()


if __name__ == "__main__":
    harness.run(main, "atpd_cli")

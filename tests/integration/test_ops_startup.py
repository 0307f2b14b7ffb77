#!/usr/bin/python3
"""test_ops_startup.py - start-up hygiene (issue 15):

1. A listen port already taken (here by a plain socket of the test): atpd
   exits 1 before it creates the store, so the data directory does not
   exist afterwards (before: a 64 MiB LMDB map was left behind), and its
   message names the URL, the config key, the command-line option and
   port 0; for each of the four listen keys.
2. Two keys configured with the same port: refused the same way.
3. The demo (`make run PORT=base`, tools/demo/run-demo.sh with
   ATP_PORT_BASE): atpd and its feeds run on base..base+3, atpctl answers
   there, and the demo stops cleanly on SIGINT.

Label: integration, ops. Bounded: about 10 s (x4 under sanitizers).
"""

import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

KEYS = [("query_listen", "--query-listen"), ("ingest_listen", "--ingest-listen"),
        ("feed_listen", "--feed-listen"), ("control_listen", "--control-listen")]


def run_atpd(h, cfg_path, timeout_s=30):
    return subprocess.run([h.atpd_bin, "--config", cfg_path], capture_output=True, text=True,
                          timeout=timeout_s * harness.TIME_FACTOR, cwd=h.tmp)


def write_cfg(h, name, svc):
    cfg = harness.build_config(h, ["r"], [("L", "r")], [], **svc)
    path = os.path.join(h.tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(harness.to_yaml(cfg) + "\n")
    return cfg, path


def free_base(n):
    """A port p with p..p+n-1 all free on 127.0.0.1 now (bounded tries)."""
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + n > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                t = socket.socket()
                t.bind(("127.0.0.1", p))
                socks.append(t)
            return base
        except OSError:
            pass
        finally:
            for t in socks:
                t.close()
    raise harness.TestFailure("no %d consecutive free ports found" % n)


def main(h):
    ck = harness.Checks(h)

    # 1. Each key's port taken.
    for key, opt in KEYS:
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        url = "tcp://127.0.0.1:%d" % port
        cfg, path = write_cfg(h, key, {key: url})
        data = cfg["service"]["data_dir"]
        r = run_atpd(h, path)
        taken.close()
        h.log("%s taken: exit %d: %s", key, r.returncode, r.stderr.strip().splitlines()[-1:])
        ck.eq(r.returncode, 1, "%s taken: exit status" % key)
        ck.check(not os.path.exists(data), "%s taken: data dir %s left behind" % (key, data))
        for want in (url, "service." + key, opt, "in use", "port 0"):
            ck.check(want in r.stderr, "%s taken: the message names %r: %s"
                     % (key, want, r.stderr.strip()[-600:]))

    # 1b. A data directory another atpd uses: refused (exit 1) before it
    # binds anything, and the running one keeps serving (two atpds on one
    # store would promise the same stock twice).
    cfg_a, _ = write_cfg(h, "first", {})
    first = h.start_atpd(cfg_a, "first")
    data = first.cfg["service"]["data_dir"]
    _, path = write_cfg(h, "second", {"data_dir": data})
    r = run_atpd(h, path)
    ck.eq(r.returncode, 1, "a second atpd on %s: exit status (%s)" % (data, r.stderr[-300:]))
    ck.check("in use by another process" in r.stderr and data in r.stderr,
             "the message says the data directory is in use: %s" % r.stderr.strip()[-400:])
    ck.eq(harness.run_ctl(h, ["--endpoint", first.query_url, "status"]).returncode, 0,
          "the first atpd still answers")
    first.stop()

    # 2. Two keys on one port.
    p = free_base(1)
    cfg, path = write_cfg(h, "same", {"feed_listen": "tcp://127.0.0.1:%d" % p,
                                      "control_listen": "tcp://127.0.0.1:%d" % p})
    r = run_atpd(h, path)
    ck.eq(r.returncode, 1, "same port twice: exit status")
    ck.check("service.feed_listen" in r.stderr and "service.control_listen" in r.stderr,
             "same port twice: both keys named: %s" % r.stderr.strip()[-600:])
    ck.check(not os.path.exists(cfg["service"]["data_dir"]), "same port: no data dir")

    # 3. The demo on a port base.
    base = free_base(4)
    env = dict(os.environ, ATP_PORT_BASE=str(base), DEMO_MINUTES="1", TMPDIR=h.tmp)
    log = open(os.path.join(h.tmp, "demo.out"), "w")
    demo = subprocess.Popen([os.path.join(h.source_dir, "tools", "demo", "run-demo.sh"),
                             h.bin_dir], stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        def answers():
            if demo.poll() is not None:
                raise harness.TestFailure("the demo exited (%d):\n%s"
                                          % (demo.returncode, harness.tail(log.name)))
            r = harness.run_ctl(h, ["--endpoint", "tcp://127.0.0.1:%d" % base, "--json",
                                    "--timeout", "500", "sources"])
            return r.returncode == 0 and (harness.last_json(r.stdout) or {}).get("ok") is True
        harness.wait_until(answers, 30, 0.2, "the demo's atpd on port %d" % base)
        harness.wait_until(lambda: "atpd demo is running" in open(log.name).read(), 30, 0.1,
                           "the demo's banner")
        banner = open(log.name).read()
        for p in range(base, base + 4):
            ck.check("tcp://127.0.0.1:%d" % p in banner, "the banner names port %d" % p)
        # The feeds reach atpd on base+1: a demo source is applied.
        def wms_ok():
            r = harness.run_ctl(h, ["--endpoint", "tcp://127.0.0.1:%d" % base, "--json",
                                    "sources"])
            obj = harness.last_json(r.stdout) or {}
            return any(s.get("id") == "wms-east" and s.get("state") == "ok"
                       and s.get("messages", 0) > 0 for s in obj.get("sources", []))
        harness.wait_until(wms_ok, 30, 0.2, "wms-east ok on the demo's atpd")
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=30 * harness.TIME_FACTOR)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=10)
            raise harness.TestFailure("the demo did not stop on SIGINT")
        log.close()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_startup")

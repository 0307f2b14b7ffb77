#!/usr/bin/python3
"""test_ops_package.py - the Debian package and the systemd unit (issue 15;
docs/OPERATIONS.md, packaging/CMakeLists.txt):

1. `cpack -G DEB` on this build directory into a temp dir: it copies the
   binaries and man pages already built and builds nothing
   (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY), about 4 s of CPU.
2. `dpkg-deb -I`: name, version (project()'s), the Depends line that
   dpkg-shlibdeps made (every foreign library atpd links), the conffile
   /etc/atpd/atpd.yaml and the maintainer scripts.
3. `dpkg-deb -c`: the four binaries, the unit, the configuration, the man
   pages, the docs; nothing else in usr/bin (no test binary).
4. The extracted tree: every binary answers --version with the project
   version and --help; every binary's --help names every option of its
   getopt_long table; the man pages hold those options; the shipped
   configuration passes `atpd --check-config`.
5. The unit as packaged, with only ExecStart's binary path pointed at the
   extracted tree: `systemd-analyze verify` says nothing (it also checks
   that man:atpd(8) exists, MANPATH pointing at the package's man pages),
   and `systemd-analyze security --offline` rates it OK (<= 2.0).
   A copy with one broken value must make verify complain: the check
   itself is alive.
6. The packaged atpd, run outside its build tree without data_dir, uses
   the absolute /var/lib/atpd: started in a private mount namespace with
   a tmpfs on /var/lib (nothing touches the host's), its start-up line
   names it and the store files appear there.

Label: integration, ops. Bounded: 20-40 s on a loaded machine (cpack
at most 240 s, 500 s under sanitizers).
"""

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

BINARIES = ["atpd", "atpctl", "atp-feed", "atp-import", "atp-bench"]
MAN_PAGES = {"atpd": "man8/atpd.8.gz", "atpctl": "man1/atpctl.1.gz",
             "atp-feed": "man1/atp-feed.1.gz", "atp-import": "man1/atp-import.1.gz",
             "atp-bench": "man1/atp-bench.1.gz"}
DOCS = ["README.md", "ARCHITECTURE.md", "CONFIG.md", "HTTP.md", "IMPORT.md", "OPERATIONS.md",
        "PERFORMANCE.md", "PROTOCOL.md", "openapi.yaml", "examples/demo.yaml",
        "examples/minimal.yaml", "examples/client.py"]
# Debian package names of the shared libraries atpd and the tools link.
DEPENDS = ["libnng1", "liblmdb0", "libmsgpackc2", "libyaml-0-2", "libmicrohttpd12",
           "libjansson4", "libcurl4", "libc6"]
UNIT = "usr/lib/systemd/system/atpd.service"
CONF = "etc/atpd/atpd.yaml"


def run(argv, timeout_s=60, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout_s, **kw)


def project_version(source_dir):
    with open(os.path.join(source_dir, "CMakeLists.txt")) as f:
        m = re.search(r"project\(atpd VERSION ([0-9.]+)", f.read())
    if m is None:
        raise TestFailure("no project(atpd VERSION ...) in CMakeLists.txt")
    return m.group(1)


def cache_value(bin_dir, key):
    with open(os.path.join(bin_dir, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split("=", 1)[1].strip()
    return ""


def build_package(h):
    for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps", "systemd-analyze"):
        if shutil.which(tool) is None:
            harness.skip("%s is not installed (scripts/install-deps.sh)" % tool)
    out = os.path.join(h.tmp, "cpack")
    os.mkdir(out)
    p = run(["nice", "-n", "5", "cpack", "-G", "DEB", "-B", out,
             "--config", os.path.join(h.bin_dir, "CPackConfig.cmake")],
            timeout_s=min(240 * harness.TIME_FACTOR, 500), cwd=h.bin_dir)
    if p.returncode != 0:
        raise TestFailure("cpack failed (%d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    if len(debs) != 1:
        raise TestFailure("cpack made %r, want one .deb" % debs)
    h.log("built %s", debs[0])
    return os.path.join(out, debs[0])


def check_control(ck, deb, version, sanitizer):
    info = run(["dpkg-deb", "-I", deb]).stdout
    fields = dict(re.findall(r"^ ([A-Z][A-Za-z-]+): (.*)$", info, re.M))
    ck.eq(fields.get("Package"), "atpd", "Package")
    ck.eq(fields.get("Version"), version, "Version")
    depends = [d.split()[0] for d in fields.get("Depends", "").split(", ") if d]
    want = DEPENDS + ([] if sanitizer else ["libjemalloc2"])
    for lib in want:
        ck.check(lib in depends, "Depends lacks %s: %r", lib, depends)
    for script in ("postinst", "prerm", "postrm"):
        ck.check(re.search(r"\b%s\b" % script, info), "no %s in the control archive", script)
    conffiles = run(["dpkg-deb", "-I", deb, "conffiles"]).stdout.split()
    ck.eq(conffiles, ["/" + CONF], "conffiles")


def check_contents(ck, deb):
    listing = run(["dpkg-deb", "-c", deb]).stdout
    files = {line.split()[-1][2:] for line in listing.splitlines()
             if not line.startswith("d")}
    want = {"usr/bin/" + b for b in BINARIES} | {UNIT, CONF}
    want |= {"usr/share/man/" + m for m in MAN_PAGES.values()}
    want |= {"usr/share/doc/atpd/" + d for d in DOCS}
    for f in sorted(want - files):
        ck.check(False, "the package lacks %s", f)
    bins = {f for f in files if f.startswith("usr/bin/")}
    ck.eq(sorted(bins), sorted("usr/bin/" + b for b in BINARIES), "usr/bin")
    return files


def options_in_source(path, pattern):
    with open(path) as f:
        return sorted(set(re.findall(pattern, f.read())))


def check_binaries(ck, h, root, version):
    helps = {}
    for b in BINARIES:
        exe = os.path.join(root, "usr/bin", b)
        p = run([exe, "--version"])
        ck.check(p.returncode == 0 and re.match(r"%s %s \(wire protocol \d+\)\n$"
                                                % (re.escape(b), re.escape(version)), p.stdout),
                 "%s --version: exit %d, %r", b, p.returncode, p.stdout + p.stderr)
        p = run([exe, "--help"])
        ck.check(p.returncode == 0 and len(p.stdout) > 200,
                 "%s --help: exit %d, %d bytes", b, p.returncode, len(p.stdout))
        helps[b] = p.stdout
    # --help names every option the parsers accept: their getopt_long
    # tables (the tools' shared entries, --help, --version, --ca, --cert,
    # --key, are in tools/common/tool_args.h).
    getopt = r'\{"([a-z][a-z-]*)", (?:no|required)_argument'

    def table(*files):
        opts = set()
        for f in files:
            opts |= set(options_in_source(os.path.join(h.source_dir, f), getopt))
        return sorted(opts)
    shared = "tools/common/tool_args.h"
    parsers = {"atpd": table("src/daemon/args.c"),
               "atpctl": table("tools/atpctl/ctl_args.c", shared),
               "atp-feed": table("tools/atp-feed/feed_args.c", shared),
               "atp-import": table("tools/atp-import/import_args.c", shared),
               "atp-bench": table("bench/bench_args.c", shared)}
    ck.check(all(len(o) >= 10 for o in parsers.values()),
             "options found in the sources: %r", parsers)
    for b, opts in parsers.items():
        with gzip.open(os.path.join(root, "usr/share/man", MAN_PAGES[b]), "rt") as f:
            man = f.read()
        ck.check(man.startswith('.\\" DO NOT MODIFY') and
                 re.search(r'^\.TH %s "\d"' % b.upper(), man, re.M),
                 "%s's man page is not help2man's: %r", b, man[:120])
        for o in opts:
            ck.check("--" + o in helps[b], "%s --help does not name --%s", b, o)
            ck.check("\\-\\-" + o.replace("-", "\\-") in man,
                     "%s's man page does not name --%s", b, o)
        if b == "atpd":
            ck.check("/etc/atpd/atpd.yaml" in man and "/var/lib/atpd" in man,
                     "atpd(8) has no FILES section naming the config and data dir")
    p = run([os.path.join(root, "usr/bin/atpd"), "--check-config", os.path.join(root, CONF)])
    ck.check(p.returncode == 0, "the shipped %s: %s%s", CONF, p.stdout, p.stderr)


def verify_unit(root, text, name):
    d = os.path.join(root, "..", "unit-" + name)
    os.makedirs(d)
    path = os.path.join(d, "atpd.service")
    with open(path, "w") as f:
        f.write(text)
    env = dict(os.environ, MANPATH=os.path.join(root, "usr/share/man"))
    p = run(["systemd-analyze", "verify", path], env=env)
    return p.returncode, (p.stdout + p.stderr).strip(), path, env


def check_unit(ck, h, root):
    with open(os.path.join(root, UNIT)) as f:
        unit = f.read()
    keys = dict(re.findall(r"^([A-Za-z]+)=(.*)$", unit, re.M))
    ck.eq(keys.get("ExecStart"), "/usr/bin/atpd --config /etc/atpd/atpd.yaml", "ExecStart")
    for k, v in (("Type", "notify"), ("ExecReload", "/bin/kill -HUP $MAINPID"),
                 ("Restart", "on-failure"), ("StateDirectory", "atpd atpd-backup"),
                 ("ConfigurationDirectory", "atpd"), ("DynamicUser", "yes"),
                 ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                 ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
                 ("MemoryDenyWriteExecute", "yes")):
        ck.eq(keys.get(k), v, k)
    ck.check("WatchdogSec" in keys and "LimitNOFILE" in keys, "no WatchdogSec or LimitNOFILE")
    # The real unit; only the binary's path points at the extracted tree
    # (verify needs ExecStart's file to exist).
    local = unit.replace("ExecStart=/usr/bin/atpd ",
                         "ExecStart=%s " % os.path.join(root, "usr/bin/atpd"))
    rc, out, path, env = verify_unit(root, local, "real")
    ck.check(rc == 0 and out == "", "systemd-analyze verify: exit %d: %s", rc, out)
    p = run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", path], env=env)
    m = re.search(r"Overall exposure level for atpd.service: ([0-9.]+)", p.stdout + p.stderr)
    ck.check(p.returncode == 0 and m is not None,
             "systemd-analyze security: exit %d, %s", p.returncode, (p.stdout + p.stderr)[-300:])
    if m is not None:
        h.log("systemd-analyze security: exposure %s", m.group(1))
    broken = local.replace("WatchdogSec=", "WatchdogSec=soon")
    rc, out, _, _ = verify_unit(root, broken, "broken")
    ck.check("WatchdogSec" in out or "sec value" in out,
             "verify said nothing of a broken WatchdogSec (exit %d): %r", rc, out)


def check_default_data_dir(ck, h, root):
    """The extracted atpd (not in a build tree), no data_dir anywhere, in a
    mount namespace whose /var/lib is an empty tmpfs."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        harness.skip("the data directory check needs root and unshare")
    ready = os.path.join(h.tmp, "ready.json")
    log_path = os.path.join(h.tmp, "atpd-pkg.log")
    exe = os.path.join(root, "usr/bin/atpd")
    listen = []
    for opt in ("query", "ingest", "feed", "control"):
        listen += ["--%s-listen" % opt, "tcp://127.0.0.1:0"]
    script = ('mount -t tmpfs -o size=256m atp-test /var/lib || exit 77; exec "$@"')
    env = dict(os.environ)  # as harness.Atpd: sanitizer builds' leak check
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
        h.source_dir, "tests", "lsan", "suppressions.txt"))
    with open(log_path, "w") as log:
        p = harness._spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            script, "sh", exe, "--ready-file", ready] + listen,
                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                           cwd=h.tmp, env=env)
    try:
        def up():
            if p.poll() is not None:
                raise TestFailure("the packaged atpd exited %d:\n%s"
                                  % (p.returncode, harness.tail(log_path)))
            return os.path.exists(ready)
        try:
            harness.wait_until(up, 30 * harness.TIME_FACTOR, what="the packaged atpd ready")
        except TestFailure:
            if p.poll() == 77:
                harness.skip("cannot mount a tmpfs in a mount namespace here")
            raise
        with open(ready) as f:
            pid = json.load(f)["pid"]
        ck.eq(pid, p.pid, "the ready file's pid (exec'd by unshare and sh)")
        # The store is in the namespace's /var/lib/atpd, seen through /proc.
        data = "/proc/%d/root/var/lib/atpd/data.mdb" % p.pid
        harness.wait_until(lambda: os.path.exists(data), 10 * harness.TIME_FACTOR,
                           what="data.mdb in /var/lib/atpd")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30 * harness.TIME_FACTOR)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
    with open(log_path) as f:
        text = f.read()
    ck.check("data directory /var/lib/atpd," in text,
             "the start-up line does not name /var/lib/atpd:\n%s" % text[-2000:])
    ck.eq(p.returncode, 0, "exit status of the packaged atpd after SIGTERM")
    ck.check(not os.path.exists(os.path.join(h.tmp, "atpd-data")),
             "a relative atpd-data appeared in the working directory")


def main(h):
    ck = harness.Checks(h)
    version = project_version(h.source_dir)
    sanitizer = cache_value(h.bin_dir, "ATP_SANITIZER") != ""
    deb = build_package(h)
    check_control(ck, deb, version, sanitizer)
    check_contents(ck, deb)
    root = os.path.join(h.tmp, "root")
    os.mkdir(root)
    p = run(["dpkg-deb", "-x", deb, root])
    if p.returncode != 0:
        raise TestFailure("dpkg-deb -x: %s" % p.stderr)
    check_binaries(ck, h, root, version)
    check_unit(ck, h, root)
    ck.done()  # before the part that may skip: a skip hides no failure
    ck = harness.Checks(h)
    check_default_data_dir(ck, h, root)
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_package")

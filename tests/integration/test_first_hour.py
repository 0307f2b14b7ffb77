#!/usr/bin/python3
"""test_first_hour.py - what a new user meets in the first hour (issue 12,
"The first hour"), checked against the real binaries:

1. --version on atpd, atpctl, atp-feed and atp-bench prints the CMake
   project version, and `status` reports the same.
2. atpctl never hangs: against a closed port, a TCP listener that never
   speaks, an SP peer that never replies, and a stopped (SIGSTOP) atpd it
   returns within its --timeout plus a bound.
3. atpctl aimed at atpd's ingest, change-feed or control port says which
   port it reached instead of "is atpd running?".
4. Errors that name a wrong value give the valid ones: an unknown region
   (atp and watch: watch used to wait silently), a TTL out of range, a
   bare number as a duration (refused, not read as milliseconds), an
   unknown config key (every allowed key, and "did you mean").

Label: integration, correctness. Bounded: about 15 s.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

TF = harness.TIME_FACTOR
# What a bounded call may take beyond its --timeout: process start-up, and
# the cancel grace of tools/common/client.c (1 s) in the worst case.
SLACK_S = 2.0 * TF


def project_version(h):
    with open(os.path.join(h.source_dir, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*atpd\s+VERSION\s+([0-9.]+)", f.read())
    if m is None:
        raise TestFailure("no project(atpd VERSION x.y.z) in CMakeLists.txt")
    return m.group(1)


def run(argv, timeout_s=30):
    t0 = time.monotonic()
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=timeout_s * TF, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t0


def listener(greeting=b""):
    """A TCP listener that accepts, sends greeting, and never says more: b""
    is a port that never speaks, an SP REP header one that never replies."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    conns = []

    def accept():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            c.sendall(greeting)
            conns.append(c)
    threading.Thread(target=accept, daemon=True).start()
    return s


def main(h):
    ck = harness.Checks(h)
    version = project_version(h)
    cfg = harness.build_config(h, ["ra", "rb"], [("La", "ra"), ("Lb", "rb")],
                               [harness.source_entry("wms", [(["La", "Lb"], ["on_hand"])])])
    cfg["reservations"] = {"min_ttl": "1s", "max_ttl": "1h"}
    d = h.start_atpd(cfg)
    ctl = h.atpctl_bin
    svc = cfg["service"]

    # ---- 1. --version
    bench = os.path.join(h.bin_dir, "bench", "atp-bench")
    for name, path in (("atpd", h.atpd_bin), ("atpctl", ctl), ("atp-feed", h.feed_bin),
                       ("atp-bench", bench)):
        rc, out, err, _ = run([path, "--version"])
        ck.eq((rc, out.split()[:2]), (0, [name, version]), "%s --version" % name)
    ck.eq(d.ctl("status")["version"], version, "status.version")

    # ---- 2. never hang
    def bounded(what, argv, timeout_ms, want_rc, want_err):
        rc, out, err, took = run([ctl, "--timeout", timeout_ms] + argv)
        h.log("%s: exit %d in %.2f s: %s", what, rc, took, err.strip().replace("\n", " | "))
        ck.eq(rc, want_rc, what + ": exit status")
        ck.check(took <= timeout_ms / 1000 + SLACK_S,
                 "%s: took %.2f s, bound %.2f s" % (what, took, timeout_ms / 1000 + SLACK_S))
        ck.check(want_err in err, "%s: stderr %r lacks %r" % (what, err, want_err))
        return took

    dead = harness.free_ports(1)[0]
    took = bounded("closed port", ["--endpoint", "tcp://127.0.0.1:%d" % dead, "status"],
                   5000, 3, "Connection refused")
    ck.check(took < 1.0 * TF, "a closed port fails at once, not after the timeout (%.2f s)" % took)
    ls = listener()
    bounded("silent TCP listener", ["--endpoint", "tcp://127.0.0.1:%d" % ls.getsockname()[1],
                                    "status"], 500, 3, "sent no handshake")
    mr = listener(b"\x00SP\x00\x00\x31\x00\x00")
    bounded("REP that never replies", ["--endpoint", "tcp://127.0.0.1:%d" % mr.getsockname()[1],
                                       "status"], 500, 3, "no reply from")
    os.kill(d.pid, signal.SIGSTOP)
    try:
        bounded("stopped atpd", ["--endpoint", d.query_url, "status"], 500, 3, "within 500 ms")
        bounded("stopped atpd, watch", ["--endpoint", d.query_url, "--feed", svc["feed_listen"],
                                        "watch", "ra", "--duration", "300ms"], 500, 0,
                "cannot check region 'ra'")
    finally:
        os.kill(d.pid, signal.SIGCONT)
    ls.close()
    mr.close()

    # ---- 3. the wrong port is named
    for key, says in (("ingest_listen", "source feed port (service.ingest_listen)"),
                      ("feed_listen", "change feed (service.feed_listen)"),
                      ("control_listen", "control port (service.control_listen)")):
        rc, _, err, _ = run([ctl, "--endpoint", svc[key], "status"])
        ck.eq(rc, 3, "atpctl at %s: exit status" % key)
        ck.check(says in err and "is atpd running" not in err,
                 "atpctl at %s: stderr %r" % (key, err))
    feed_args = ["--config", d.config_path, "--source", "wms", "--messages", 5, "--quiet",
                  "--control", svc["control_listen"]]
    rc, _, err, _ = run([h.feed_bin, "--endpoint", d.query_url] + feed_args)
    ck.check(rc == 2 and "query port (service.query_listen)" in err,
             "atp-feed at the query port: exit %d, %r" % (rc, err))
    rc, _, err, took = run([h.feed_bin, "--endpoint", "tcp://127.0.0.1:%d" % dead] + feed_args)
    ck.check(rc != 0 and "Connection refused" in err and took <= 5 + SLACK_S,
             "atp-feed at a closed port: exit %d after %.1f s, %r" % (rc, took, err))
    rc, _, err, _ = run([ctl, "--endpoint", d.query_url, "--feed", d.query_url, "watch",
                         "--count", "1"])
    ck.check(rc == 2 and "query port (service.query_listen)" in err,
             "watch --feed at the query port: exit %d, %r" % (rc, err))

    # ---- 4. wrong values and what is valid
    rc, obj, err = d.ctl_raw("atp", "X", "mars")
    ck.check(rc == 1 and "unknown region 'mars'; regions: ra, rb" in err,
             "atp in an unknown region: exit %d, %r" % (rc, err))
    rc, out, err, took = run([ctl, "--endpoint", d.query_url, "--feed", svc["feed_listen"],
                              "watch", "mars", "--duration", "30s"])
    ck.check(rc == 1 and "unknown region 'mars'; regions: ra, rb" in err and took < 10 * TF,
             "watch an unknown region: exit %d after %.1f s, %r" % (rc, took, err))
    rc, obj, err = d.ctl_raw("reserve", "r1", "X:ra:1", "--ttl", "5")
    ck.check(rc == 2 and "bare number is refused" in err and obj is None,
             "--ttl 5: exit %d, %r" % (rc, err))
    rc, obj, err = d.ctl_raw("reserve", "r1", "X:ra:1", "--ttl", "2h")
    ck.check(rc == 1 and "1000..3600000 (1s..1h" in err and "got 7200000" in err,
             "--ttl 2h beyond max_ttl 1h: exit %d, %r" % (rc, err))
    bad = os.path.join(h.tmp, "typo.yaml")
    with open(bad, "w") as f:
        f.write("service:\n  snapshot_intervall: 1s\nregions: [{id: a}]\n")
    rc, out, err, _ = run([h.atpd_bin, "--check-config", bad])
    text = out + err
    ck.check(rc == 1 and "did you mean 'snapshot_interval'?" in text and
             "resync_hold_messages, scheduling" in text,
             "unknown config key: exit %d, %r" % (rc, text))
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "first_hour")

#!/usr/bin/env python3
"""test_ops_notify.py - atpd tells systemd where it is (sd_notify,
src/notify/): the test plays the service manager. It binds a unix datagram
socket, starts atpd with NOTIFY_SOCKET naming it and WATCHDOG_USEC set,
and reads what atpd sends, in order:

1. READY=1 once it is ready (with STATUS=);
2. WATCHDOG=1 again and again (every half WATCHDOG_USEC) while its threads
   make progress;
3. on SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 when the
   reload is done (and atpd is still running: SIGHUP never stops it);
4. on SIGTERM: STOPPING=1, and atpd exits 0.

Labels: integration, ops. A few seconds.
"""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WATCHDOG_USEC = 400000  # keep-alives every 200 ms


class Manager:
    """The service manager's end of NOTIFY_SOCKET: every datagram atpd
    sends, split into its KEY=VALUE lines."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.msgs = []

    def read_until(self, pred, timeout_s, what):
        """Read datagrams until pred(fields) holds for one; returns it."""
        deadline = time.monotonic() + timeout_s * harness.TIME_FACTOR
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise harness.TestFailure("no %s from atpd within %.1f s; got %r"
                                          % (what, timeout_s * harness.TIME_FACTOR,
                                             self.msgs[-20:]))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().split("\n")
                          if "=" in line)
            self.msgs.append(fields)
            if pred(fields):
                return fields


def main(h):
    sock_path = os.path.join(h.tmp, "notify.sock")
    mgr = Manager(sock_path)
    os.environ["NOTIFY_SOCKET"] = sock_path  # atpd inherits them
    os.environ["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
    cfg = harness.build_config(h, ["east"], [("E1", "east")],
                               [harness.source_entry("wms", [(["E1"], ["on_hand"])])])
    configured = harness.to_yaml(cfg)
    d = h.start_atpd(cfg)
    del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
    ck = harness.Checks(h)

    ready = mgr.read_until(lambda f: "READY" in f, 10, "READY=1")
    ck.eq(ready.get("READY"), "1", "READY=1")
    ck.check(ready.get("STATUS"), "READY=1 comes with a STATUS= line: %r" % ready)
    ck.eq(mgr.msgs[:-1], [], "nothing before READY=1")
    ck.eq(d.ctl("status")["ready"], True, "status.ready once READY=1 was sent")

    t0 = time.monotonic()
    for _ in range(3):
        mgr.read_until(lambda f: f.get("WATCHDOG") == "1", 5, "WATCHDOG=1")
    h.log("3 keep-alives in %.2f s", time.monotonic() - t0)

    with open(d.config_path, "w") as f:  # the listen URLs as configured
        f.write(configured + "\n")
    os.kill(d.pid, signal.SIGHUP)
    rel = mgr.read_until(lambda f: "RELOADING" in f, 10, "RELOADING=1")
    ck.eq(rel.get("RELOADING"), "1", "RELOADING=1 on SIGHUP")
    ck.check(rel.get("MONOTONIC_USEC", "").isdigit(), "RELOADING=1 with MONOTONIC_USEC: %r" % rel)
    again = mgr.read_until(lambda f: "READY" in f or "STOPPING" in f, 10, "READY=1 after the reload")
    ck.eq(again.get("READY"), "1", "READY=1 after the reload")
    d.check_alive()
    with open(d.stderr_path) as f:
        ck.check("reload applied" in f.read(), "the reload was applied")

    d.proc.send_signal(signal.SIGTERM)
    stop = mgr.read_until(lambda f: "STOPPING" in f or "READY" in f, 10, "STOPPING=1")
    ck.eq(stop.get("STOPPING"), "1", "STOPPING=1 on SIGTERM")
    ck.eq(d.stop(), 0, "exit status")
    order = [k for m in mgr.msgs for k in ("READY", "RELOADING", "STOPPING") if k in m]
    ck.eq(order, ["READY", "RELOADING", "READY", "STOPPING"], "the order of the states")
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_notify")

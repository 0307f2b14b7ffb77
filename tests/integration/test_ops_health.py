#!/usr/bin/python3
"""test_ops_health.py - GET /healthz and the health section of status
(docs/HTTP.md, docs/PROTOCOL.md): a thread that has work and makes no
progress for service.stall_timeout is stuck; an idle thread is not.

1. Idle: with stall_timeout 500ms, an atpd with nothing to do for three
   times that long is healthy (/healthz 200, every thread listed, none
   busy for long).
2. Stuck: through atpd-faults (src/store/fault.h), the reservation log's
   fdatasync hangs ("log_sync stall", as on a dead disk) under a
   reservation: the store writer has work and makes no progress, so
   /healthz answers 503 naming atp:log-write, and status (nng and HTTP)
   says healthy false with the same thread. The reservation waits.
3. The disk comes back (the line removed): the reservation is granted,
   /healthz is 200 again.
4. A long backup is not a stuck thread: the copy is made to hang
   ("backup stall") for four stall timeouts while `atpctl backup` waits;
   /healthz stays 200 all along (the applier busy with it), and once the
   line is removed the backup completes and holds data.mdb.
5. Stopping is not ready: with LMDB commits made to hang ("commit
   stall"), SIGTERM's final snapshot waits; meanwhile /readyz is 503 with
   failing ["stopping"], status says ready false and readiness.stopping
   true; /metrics says atpd_ready 0. Once the line is removed atpd exits 0.

Labels: integration, ops. About 8 s.
"""

import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import store_util as S  # noqa: E402

STALL = "500ms"


faults = harness.write_faults


def main(h):
    fault_file = harness.use_store_faults(h)
    cfg = S.store_config(h, regions=("east",), locs_per_region=1, durability="sync")
    cfg["service"]["http_listen"] = "http://127.0.0.1:0"
    cfg["service"]["stall_timeout"] = STALL
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = S.Client(d.query_port)
    feed = S.Feeder(d, c)
    w = H.Http(d)
    feed.publish("wms", [[2, "F-1", "east-0", 0, 100]])

    # 1. idle for three stall timeouts: not stuck
    t0 = harness.now_ms()
    harness.wait_until(lambda: harness.now_ms() - t0 >= 1500, 10, 0.05, "1.5 s")
    st, _, doc = w.call("GET", "/healthz")
    ck.eq((st, doc.get("healthy"), doc.get("stuck")), (200, True, []), "an idle atpd's /healthz")
    names = {t["name"] for t in doc.get("threads", [])}
    for name in ("atp:engine", "atp:log-write", "atp:lmdb-apply", "atp:changes", "atp:ingest"):
        ck.check(name in names, "thread %s is watched: %r" % (name, sorted(names)))
    ck.eq(doc.get("stall_timeout_ms"), 500, "stall_timeout_ms")

    # 2. the log's fdatasync hangs under a reservation
    faults(fault_file, "log_sync stall\n")
    result = {}

    def reserve():
        r = H.Http(d, timeout_s=60.0)
        result["reply"] = r.call("POST", "/v1/reservations",
                                 {"id": "stuck-1", "lines": [{"sku": "F-1", "region": "east", "qty": 1}]})
        r.close()
    t = threading.Thread(target=reserve, daemon=True)
    t.start()

    def stuck():
        st, _, doc = w.call("GET", "/healthz")
        return (st, doc) if st == 503 else None
    st, doc = harness.wait_until(stuck, 20, 0.05, "/healthz 503")
    ck.eq(doc.get("healthy"), False, "healthy")
    stuck_names = [s.get("thread") for s in doc.get("stuck", [])]
    ck.check("atp:log-write" in stuck_names, "the store writer is named stuck: %r" % doc)
    ck.check(all(s.get("stalled_ms", 0) > 500 for s in doc.get("stuck", [])),
             "stalled longer than the timeout: %r" % doc.get("stuck"))
    ck.check("result" not in result and "reply" not in result, "the reservation waits")
    nng = d.ctl("status")
    ck.eq(nng["health"]["healthy"], False, "status.health.healthy over nng")
    ck.check("atp:log-write" in [s["thread"] for s in nng["health"]["stuck"]],
             "status.health.stuck over nng: %r" % nng["health"])
    ck.eq(nng["ready"], True, "a stuck thread does not make atpd unready")
    ck.eq(w.ok("GET", "/v1/status")["health"]["healthy"], False, "status.health over HTTP")

    # 3. the disk is back
    faults(fault_file, "")
    t.join(30 * harness.TIME_FACTOR)
    ck.check(not t.is_alive(), "the reservation was answered")
    if "reply" in result:
        ck.eq(result["reply"][0], 201, "the reservation, once the disk is back")
    harness.wait_until(lambda: w.call("GET", "/healthz")[0] == 200, 10, 0.05,
                       "/healthz 200 again")

    # 4. a backup that takes long (a large store, a slow disk)
    faults(fault_file, "backup stall\n")
    bdir = os.path.join(h.tmp, "backup-slow")
    backup = {}

    def run_backup():
        backup["reply"] = d.ctl("backup", bdir, timeout_s=60 * harness.TIME_FACTOR)
    tb = threading.Thread(target=run_backup, daemon=True)
    tb.start()

    def applier_busy():
        st, _, doc = w.call("GET", "/healthz")
        ck.eq(st, 200, "/healthz during the backup: %r" % (doc,))
        t = [x for x in doc.get("threads", []) if x.get("name") == "atp:lmdb-apply"]
        return t and t[0].get("busy") and t[0].get("since_ms", 0) > 2000
    harness.wait_until(applier_busy, 30, 0.05, "the backup copying for 4 stall timeouts")
    ck.check(tb.is_alive(), "the backup still runs")
    faults(fault_file, "")
    tb.join(60 * harness.TIME_FACTOR)
    ck.check(not tb.is_alive(), "the backup was answered")
    ck.check(backup.get("reply", {}).get("ok") is True, "backup reply: %r" % (backup,))
    ck.check(os.path.exists(os.path.join(bdir, "data.mdb")), "the backup holds data.mdb")
    ck.eq(w.call("GET", "/healthz")[0], 200, "/healthz after the backup")

    # 5. stopping: a final snapshot that takes long
    feed.publish("wms", [[2, "F-1", "east-0", 0, 90]])  # for the final snapshot
    ck.eq(w.call("GET", "/readyz")[0], 200, "/readyz before SIGTERM")
    faults(fault_file, "commit stall\n")
    os.kill(d.pid, signal.SIGTERM)

    def not_ready():
        st, _, doc = w.call("GET", "/readyz")
        return (st, doc) if st == 503 else None
    st, doc = harness.wait_until(not_ready, 20, 0.02, "/readyz 503 while stopping")
    ck.eq((doc.get("ready"), doc.get("failing")), (False, ["stopping"]), "/readyz while stopping")
    sdoc = w.ok("GET", "/v1/status")
    ck.eq((sdoc.get("ready"), sdoc.get("readiness", {}).get("stopping")), (False, True),
          "status while stopping")
    w.conn.request("GET", "/metrics")
    r = w.conn.getresponse()
    st, text = r.status, r.read().decode("utf-8")
    ck.check(st == 200 and "\natpd_ready 0\n" in text, "atpd_ready 0 while stopping: %r"
             % [x for x in str(text).split("\n") if x.startswith("atpd_ready")])
    ck.check(d.alive(), "atpd still stopping")
    faults(fault_file, "")
    w.close()
    feed.close()
    c.close()
    ck.eq(d.stop(), 0, "exit status once the commit is back")
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_health")

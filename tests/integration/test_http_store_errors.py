#!/usr/bin/python3
"""test_http_store_errors.py - the store's error replies over HTTP, with
their statuses (docs/HTTP.md): `io` 500, `internal` 500 and `busy` 503 with
Retry-After, through atpd-faults (the store's test-only fault points,
src/store/fault.h), as test_store_faults.py does over nng.

1. the reservation log's fdatasync failing (EIO): POST /v1/reservations is
   500 `io` and nothing is stored; an LMDB commit failing: POST
   /v1/snapshots is 500 `io`, refused as invalid (EINVAL): 500 `internal`;
   without the fault the same reserve is 201.
2. LMDB held back 60 s fills the 1 MiB reservation log: a reserve is 503
   `busy` with Retry-After and retry advice, and is not stored.

Labels: integration, http. About 20 s.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import store_util as S  # noqa: E402

LINE = [{"sku": "F-1", "region": "east", "qty": 1}]


faults = harness.write_faults


def config(h, **resv):
    cfg = S.store_config(h, regions=("east",), locs_per_region=2, durability="sync",
                         log_bytes=1 << 20, **resv)
    cfg["service"]["http_listen"] = "http://127.0.0.1:0"
    return cfg


def part_io(h, ck, fault_file):
    d = h.start_atpd(config(h), name="atpd-io")
    c = S.Client(d.query_port)
    feed = S.Feeder(d, c)
    w = H.Http(d)
    feed.publish("wms", [[2, "F-1", "east-0", 0, 100]])
    w.ok("POST", "/v1/reservations", {"id": "io-1", "lines": LINE}, status=201)

    faults(fault_file, "log_sync EIO\n")
    st, _, doc = w.call("POST", "/v1/reservations", {"id": "io-2", "lines": LINE})
    ck.eq((st, harness.error_name(doc)), (500, "io"), "a reserve whose fdatasync fails")
    st, _, doc = w.call("GET", "/v1/reservations/io-2")
    ck.eq((st, harness.error_name(doc)), (404, "not_found"), "io-2 was not stored")

    faults(fault_file, "commit EIO\n")
    feed.publish("wms", [[2, "F-1", "east-1", 0, 7]])
    st, _, doc = w.call("POST", "/v1/snapshots")
    ck.eq((st, harness.error_name(doc)), (500, "io"), "a snapshot whose LMDB commit fails")
    faults(fault_file, "commit EINVAL\n")
    st, _, doc = w.call("POST", "/v1/snapshots")
    ck.eq((st, harness.error_name(doc)), (500, "internal"), "a snapshot LMDB refuses")

    faults(fault_file, "")
    w.ok("POST", "/v1/reservations", {"id": "io-2", "lines": LINE}, status=201)
    w.ok("POST", "/v1/snapshots")
    errs = w.ok("GET", "/v1/status")["http"]["errors"]
    ck.eq((errs.get("io"), errs.get("internal")), (2, 1), "status.http.errors")
    w.close()
    feed.close()
    c.close()
    d.stop()


def part_busy(h, ck):
    d = h.start_atpd(config(h, log_apply_delay="60s"), name="atpd-busy")
    c = S.Client(d.query_port, timeout_s=60.0)
    feed = S.Feeder(d, c)
    w = H.Http(d, timeout_s=60.0)
    feed.publish("wms", [[2, "F-1", "east-0", 0, 1000]])
    busy = None
    for k in range(400):  # 256 appends fill the log
        st, hdrs, doc = w.call("POST", "/v1/reservations", {"id": "b-%d" % k, "lines": LINE})
        if st == 201:
            continue
        busy = ("b-%d" % k, st, hdrs, doc)
        break
    ck.check(busy is not None, "no reserve was refused with the log full")
    if busy is not None:
        rid, st, hdrs, doc = busy
        ck.eq((st, harness.error_name(doc)), (503, "busy"), "a reserve with the log full")
        ck.eq(hdrs.get("retry-after"), "1", "busy carries Retry-After")
        ck.check("retry" in doc["error"]["message"], "retry advice: %r", doc)
        ck.check(c.get(rid) is None, "%s was not stored" % rid)
    w.close()
    feed.close()
    c.close()
    d.kill9()  # a stop would wait for LMDB's 60 s delay


def main(h):
    fault_file = harness.use_store_faults(h)
    ck = harness.Checks(h)
    part_io(h, ck, fault_file)
    part_busy(h, ck)
    ck.done()


if __name__ == "__main__":
    harness.run(main, "http_store_errors")

#!/usr/bin/python3
"""test_ops_logs.py - atpd's logs (issue 15; docs/CONFIG.md, service.log_*):

1. log_format: json: every line atpd writes to stderr is one JSON object
   with time, level, module and message, in valid UTF-8.
2. Start-up says the version, the config path, the absolute data directory
   and the listen addresses (configured, then bound).
3. A hole no source answers: "asked source wms for a replay from seq 2" is
   due every resync_retry (here 50 ms, ~40 lines in 2 s); with a repeat
   window of 500 ms it is printed a few times, each repeat after the first
   with the count of those suppressed (before: one line each time).

Label: integration, ops. Bounded: about 5 s (x4 under sanitizers).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import msgpack  # noqa: E402

REPLAY = "asked source wms for a replay from seq 2"


def read_json_lines(path, ck):
    with open(path, "rb") as f:
        raw = f.read()
    objs = []
    for line in raw.split(b"\n"):
        if not line:
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            ck.check(False, "not a JSON line (%s): %r" % (e, line[:200]))
            continue
        ck.check(isinstance(obj, dict) and
                 {"time", "level", "module", "message"} <= set(obj),
                 "JSON line without time/level/module/message: %r" % (obj,))
        objs.append(obj)
    return objs


def main(h):
    cfg = harness.build_config(h, ["ra"], [("La", "ra")],
                               [harness.source_entry("wms", [(["La"], ["on_hand"])])],
                               log_format="json", log_repeat_window="500ms",
                               resync_retry="50ms", resync_timeout="1m",
                               reorder_window="10ms")
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)

    # 3. seq 1, then seq 3: seq 2 is asked for, and nobody answers.
    pub = harness.Publisher(d, c)
    pub.send_payload(pub.next_batch("wms", [[2, "X", "La", 0, 10]])[1])
    pub.wait_applied("wms")
    pub.send_payload(msgpack.packb([1, "wms", 3, harness.now_ms(), [[2, "X", "La", 0, 11]]]))
    t0 = time.monotonic()

    def replays():
        objs = [o for o in read_json_lines(d.stderr_path, harness.Checks(h))
                if o.get("message") == REPLAY]
        return objs if any("suppressed" in o for o in objs) else None
    seen = harness.wait_until(replays, 10, 0.05, "a replay line with its suppressed count")
    # Let it run a while longer: the requests go on every 50 ms.
    harness.wait_until(lambda: time.monotonic() - t0 > 2.0 * harness.TIME_FACTOR, 10, 0.05,
                       "2 s of unanswered requests")
    requests = c.sources()["wms"]["resync_requests"]
    d.stop()
    objs = read_json_lines(d.stderr_path, ck)
    seen = [o for o in objs if o.get("message") == REPLAY]
    printed = len([o for o in seen if not o.get("summary")])
    suppressed = sum(o.get("suppressed", 0) for o in seen)
    h.log("%d resync requests sent; %d replay lines printed, %d suppressed",
          requests, printed, suppressed)
    ck.check(requests >= 10, "at least 10 requests in 2 s at 50 ms (got %d)" % requests)
    ck.check(printed <= requests / 3, "repeats suppressed: %d lines for %d requests"
             % (printed, requests))
    # Every request is either printed or counted (the stop flushes the rest;
    # requests go on between `sources` and the stop).
    ck.check(requests <= printed + suppressed <= requests + 60 * harness.TIME_FACTOR,
             "lines printed + suppressed (%d) cover the %d requests sent"
             % (printed + suppressed, requests))

    # 1-2. JSON everywhere; the start-up line.
    starting = [o for o in objs if "starting:" in o["message"]]
    ck.eq(len(starting), 1, "one start-up line")
    if starting:
        m = starting[0]["message"]
        for want in ("atpd 0.", d.config_path, configured["data_dir"],
                     "query " + configured["query_listen"]):
            ck.check(want in m, "start-up line names %r: %s" % (want, m))
        ck.check(os.path.isabs(configured["data_dir"]), "data dir absolute in the test")
    ready = [o for o in objs if " ready: " in o["message"]]
    ck.check(len(ready) == 1 and d.query_url in ready[0]["message"] and
             d.ingest_url in ready[0]["message"], "the ready line names the bound URLs")
    ck.check(all(o["level"] in ("debug", "info", "warn", "error") for o in objs), "levels")
    pub.close()
    c.close()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_logs")

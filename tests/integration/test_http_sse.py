#!/usr/bin/python3
"""test_http_sse.py - the change feed as Server-Sent Events (GET /v1/changes).

- events arrive after a source update, filtered by region and by exact SKU
  (no "A" stream catching "A1") like the nng topics; every event's `id:`
  is its `seq`, valid JSON, increasing;
- Last-Event-ID: a reconnect that may have missed events gets a `gap`
  event first; one that missed nothing does not;
- a bad filter is an error reply (unknown_region, bad_sku), not a stream;
- status.http.event_streams counts open streams; atpd stops cleanly with
  streams open.
"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402


class Stream:
    """An event stream over a raw socket: HTTP/1.1, chunked."""

    def __init__(self, d, query, last_event_id=None):
        self.s = H.raw_socket(d)
        extra = "Accept: text/event-stream\r\n"
        if last_event_id is not None:
            extra += "Last-Event-ID: %s\r\n" % last_event_id
        self.s.sendall(H.request_bytes("GET", "/v1/changes" + query, extra=extra))
        self.f = self.s.makefile("rb")
        line = self.f.readline()
        self.status = int(line.split()[1])
        self.headers = {}
        while True:
            line = self.f.readline()
            if line in (b"\r\n", b""):
                break
            k, v = line.decode().split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.text = b""
        self.events = []

    def error_body(self):
        n = int(self.headers.get("content-length", "0"))
        return json.loads(self.f.read(n))

    def _chunk(self):
        size = int(self.f.readline().strip(), 16)
        data = self.f.read(size)
        self.f.readline()
        return data

    def wait(self, pred, timeout_s, what):
        """Read events until pred(events) or the deadline."""
        deadline = time.monotonic() + timeout_s * harness.TIME_FACTOR
        while not pred(self.events):
            left = deadline - time.monotonic()
            if left <= 0:
                raise harness.TestFailure("stream %s: %s not seen; events %r"
                                          % (self.headers, what, self.events[-5:]))
            self.s.settimeout(left)
            try:
                self.text += self._chunk()
            except socket.timeout:
                continue
            while b"\n\n" in self.text:
                block, self.text = self.text.split(b"\n\n", 1)
                ev = {"event": "message"}
                for line in block.decode("utf-8").split("\n"):
                    if line.startswith(":") or ":" not in line:
                        continue
                    k, v = line.split(":", 1)
                    ev[k] = v[1:] if v.startswith(" ") else v
                if "data" in ev:
                    ev["json"] = json.loads(ev["data"])
                    self.events.append(ev)
        return self.events

    def changes(self):
        return [e for e in self.events if e["event"] == "change"]

    def close(self):
        self.f.close()  # the socket closes only once its file is closed too
        self.s.close()


def main(h):
    ck = harness.Checks(h)
    d = h.start_atpd(H.http_config(h))
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    w = H.Http(d)

    bad = Stream(d, "?region=mars")
    err = bad.error_body()["error"]
    ck.eq((bad.status, err["name"]), (422, "unknown_region"),
          "a stream for an unknown region")
    ck.check("regions: east, west" in err["message"],
             "the message lists the regions (docs/HTTP.md): %r", err["message"])
    bad.close()
    bad = Stream(d, "?region=east&sku=" + H.q("\x01"))
    ck.eq((bad.status, bad.error_body()["error"]["name"]), (422, "bad_sku"), "a bad sku")
    bad.close()

    east = Stream(d, "?region=east")
    only_a = Stream(d, "?region=east&sku=A")
    every = Stream(d, "")
    for s in (east, only_a, every):
        ck.eq((s.status, s.headers.get("content-type")), (200, "text/event-stream"),
              "a stream opens")
    harness.wait_until(lambda: w.ok("GET", "/v1/status")["http"]["event_streams"] == 3,
                       10 * harness.TIME_FACTOR, 0.05, "3 event streams counted")

    H.seed(feed, [("A", "E1", 5), ("A1", "E1", 6), ("B", "E1", 7), ("A", "W1", 8)])
    want = {("A", "east"), ("A", "west"), ("A1", "east"), ("B", "east")}
    every.wait(lambda ev: want <= {(e["json"]["sku"], e["json"]["region"])
                                   for e in ev if e["event"] == "change"}, 10,
               "the 4 changed rows")
    east.wait(lambda ev: len([e for e in ev if e["event"] == "change"]) >= 3, 10,
              "3 east events")
    only_a.wait(lambda ev: len([e for e in ev if e["event"] == "change"]) >= 1, 10,
                "the A event")
    keys = lambda s: sorted((e["json"]["sku"], e["json"]["region"]) for e in s.changes())
    # A new SKU's rows in other regions may be published too (at 0).
    ck.check(want <= set(keys(every)), "the unfiltered stream: %r", keys(every))
    ck.eq(keys(east), [("A", "east"), ("A1", "east"), ("B", "east")], "region east")
    ck.eq(keys(only_a), [("A", "east")], "exactly sku A in east (not A1)")
    for e in every.changes():
        ck.eq(int(e["id"]), e["json"]["seq"], "an event's id is its seq")
    ids = [int(e["id"]) for e in every.changes()]
    ck.eq(ids, sorted(ids), "ids increase")
    a = only_a.changes()[0]["json"]
    ck.eq((a["supply"], [ch["atp"] for ch in a["channels"]]), (5, [5, 5, 5]),
          "the event carries the new values")

    # One more update: the filtered stream sees it, the others too.
    # (Wait for the event of A at 0, not for a second event: a region
    # turning fresh after the first message may republish A at 5 first.)
    H.seed(feed, [("A", "E1", 0)])
    only_a.wait(lambda ev: any(e["event"] == "change" and e["json"]["supply"] == 0
                               for e in ev), 10, "the A event at 0")
    last = [e for e in only_a.changes() if e["json"]["supply"] == 0][0]
    ck.eq(last["json"]["channels"][0]["transitions"], ["out_of_stock"], "out of stock marked")

    # ---- Last-Event-ID --------------------------------------------------------
    old = east.changes()[0]["id"]
    again = Stream(d, "?region=east", last_event_id=old)
    again.wait(lambda ev: len(ev) >= 1, 10, "the gap event")
    ck.eq(again.events[0]["event"], "gap", "a reconnect after missed events gets a gap first")
    ck.eq(again.events[0]["json"].get("reason"), "reconnect", "the gap's reason")
    # The feed's sequence now (a scan reads it); a reconnect with it missed
    # nothing, unless something was published meanwhile: then try again.
    scan_seq = lambda: str(w.ok("GET", "/v1/regions/east/availability")["seq"])
    for attempt in range(20):
        newest = scan_seq()
        current = Stream(d, "?region=east", last_event_id=newest)
        if scan_seq() == newest:
            break
        current.close()
    H.seed(feed, [("B", "E1", 1)])
    current.wait(lambda ev: len(ev) >= 1, 10, "the next change")
    ck.eq([e["event"] for e in current.events], ["change"],
          "a reconnect that missed nothing gets no gap")
    ck.check(int(current.events[0]["id"]) > int(newest), "and only newer events")
    # 5 streams (more while a stream closed by the retry above is not yet
    # noticed: see below).
    harness.wait_until(lambda: w.ok("GET", "/v1/status")["http"]["event_streams"] >= 5,
                       10 * harness.TIME_FACTOR, 0.05, "5 event streams counted")
    before = w.ok("GET", "/v1/status")["http"]["event_streams"]
    # A vanished client is noticed when its stream is next written (an
    # event for its filter, or the keep-alive every 15 s).
    only_a.close()
    qty = [10]

    def bump():
        qty[0] += 1
        H.seed(feed, [("A", "E1", qty[0])])
    harness.wait_until(lambda: (bump() or
                                w.ok("GET", "/v1/status")["http"]["event_streams"] <= before - 1),
                       10 * harness.TIME_FACTOR, 0.1, "a closed stream is forgotten")
    w.close()
    feed.close()
    d.stop()  # with 4 streams open: a clean exit, checked
    for s in (east, every, again, current):
        s.close()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "http_sse")

#!/usr/bin/python3
"""test_phased_ctl.py - atpctl's time-phased commands against a real atpd
(docs/PROTOCOL.md, "Time-phased promises" and "Dated reservations";
tools/README.md).

Region east counts lots within 1 day (a lot of 7 due in an hour is
today's stock: supply 12), so a lot of 100 due in 10 days is a future
lot; region west counts none (horizon 0). Through `atpctl --endpoint`
atpd's nng query socket, then its HTTP API (http://, service.http_listen),
each on SKUs of its own:

- `promise`: today's line is `atp`'s, then dated units / preorder hold /
  max promisable, the schedule FROM (UTC) / ATP, `--date` in each WHEN
  form (ms, YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z, +DURATION), `--qty`
  (its earliest date, `now`, `never`), `--json`;
- `promise-cart`: the cart's earliest complete date (`now`, a date,
  `NEVER` with exit 0), per line SKU QTY ATP EARLIEST;
- `reserve --promise`: `promise <UTC> (dated)`, promise_ms as the WHEN
  says, then `(due)` once the date has come; a preorder refused before
  its lot arrives (exit 4), one that takes present stock (the preorder
  hold), the lot cancelled (preorder shortfall); a TTL that does not reach
  the date (bad_request, exit 1);
- usage errors, nothing sent: every bad WHEN of --date and --promise, a bad
  --qty or SKU:QTY, --date/--promise/--qty on a command that takes none;
  exit 2 even against a port where nothing listens (no connection tried);
- error replies (exit 1) print the same over nng and over HTTP.

Label: integration, phased (tests/CMakeLists.txt: the file name starts with
phased). Bounded: every wait is a poll with a deadline; about 5 s.
"""

import calendar
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

OK, ERROR, USAGE, UNREACHABLE, REFUSED = 0, 1, 2, 3, 4
DAY = 86400000
HOUR = 3600000
BUCKETS = ["on_hand", "allocated", "held", "inbound"]
BAD_WHEN = ["2026-02-30", "2026-13-01", "1969-12-31", "2026-12-07T10:00",
            "2026-12-07T24:00Z", "2026-12-07 10:00Z", "2026-12-07T10:00+01:00",
            "tomorrow", "now", "+10", "+0s", "10d", "+1w", "1e12", "-5",
            "9007199254740992", "12.5"]


def utc(ms):
    """ms since the epoch as atpctl prints it: seconds, truncated, UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def day_ms(ms):
    """The midnight UTC of the day of ms, and that day as YYYY-MM-DD."""
    day = time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))
    return calendar.timegm(time.strptime(day, "%Y-%m-%d")) * 1000, day


class Scenario:
    """One pass of every check through atpctl --endpoint ep, on SKUs
    named with tag (A: east, W: west), so the passes do not meet."""

    def __init__(self, h, c, q, pub, ep, tag):
        self.h, self.c, self.q, self.pub, self.ep, self.tag = h, c, q, pub, ep, tag
        self.a, self.w = tag + "A", tag + "W"

    def ctl(self, *args):
        """(exit status, stdout, stderr) of atpctl --endpoint <ep> ARGS."""
        r = harness.run_ctl(self.h, ["--endpoint", self.ep] + list(args))
        return r.returncode, r.stdout, r.stderr

    def ctl_json(self, *args):
        rc, out, err = self.ctl("--json", *args)
        return rc, harness.last_json(out), err

    def send(self, events):
        _, msg = self.pub.next_batch("erp", events)
        self.pub.send_payload(msg)
        self.pub.wait_applied("erp")

    def run(self):
        c, a = self.c, self.a
        self.h.log("atpctl --endpoint %s (SKUs %s, %s)", self.ep, a, self.w)
        t0 = harness.now_ms()
        self.eta = t0 + 10 * DAY
        self.send([[2, a, "DC-1", 0, 5],
                   [6, a, "DC-1", self.tag + "PO-0", 7, t0 + HOUR],
                   [6, a, "DC-1", self.tag + "PO-1", 100, self.eta]])
        c.eq(self.q.atp(a, "east").get("supply"), 12, "%s: supply 12 (the lot in the horizon)" % a)
        # The source turns ok (the region not stale) on its own time after
        # its first message: the outputs compared below must not straddle it.
        harness.wait_until(lambda: self.q.atp(a, "east").get("stale") is False, 10 * harness.TIME_FACTOR,
                           what="region east not stale")
        self.promise()
        self.promise_dates()
        self.promise_cart()
        self.preorders()
        self.due()
        self.usage_errors()

    def promise(self):
        c, a, eta = self.c, self.a, self.eta
        rc, atp_out, _ = self.ctl("atp", a, "east")
        rc2, out, err = self.ctl("promise", a, "east")
        c.eq((rc, rc2), (OK, OK), "atp, promise %s east: exit status (%s)" % (a, err.strip()))
        lines = out.splitlines()
        c.eq(lines[:1], atp_out.splitlines(), "promise: today's line is atp's")
        c.eq(lines[1:3], ["dated 0  preorder hold 0  max promisable 112",
                          "FROM                  ATP"], "promise: preorders and the header")
        rows = [l.split() for l in lines[3:]]
        c.check(len(rows) == 2 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[0][0])
                and rows[0][1] == "12" and rows[1] == [utc(eta), "112"],
                "promise: the schedule is now 12, from the lot's ETA 112: %r", out)
        rc, obj, _ = self.ctl_json("promise", a, "east", "--qty", "40")
        c.check(rc == OK and obj and obj.get("earliest_ms") == eta and obj.get("qty") == 40
                and [p["atp"] for p in obj.get("schedule", [])] == [12, 112],
                "promise --qty 40 --json: the reply map, earliest_ms the ETA: %s %r", rc, obj)
        rc, out, _ = self.ctl("promise", a, "east", "--qty", "40")
        c.check(rc == OK and re.search(r"^earliest for 40: %s \(in 9d2\dh\)$" % re.escape(utc(eta)),
                                       out, re.M),
                "promise --qty 40: the lot's ETA: %r", out)
        rc, out, _ = self.ctl("promise", a, "east", "--qty", "12")
        c.check(rc == OK and out.endswith("\nearliest for 12: now\n"),
                "promise --qty 12: now: %r", out)
        rc, out, _ = self.ctl("promise", a, "east", "--qty", "113")
        c.check(rc == OK and out.endswith("\nearliest for 113: never (no known supply covers "
                                          "it)\n"),
                "promise --qty 113 (beyond every lot): never, exit 0: %s %r", rc, out)

    def promise_dates(self):
        """--date in every WHEN form: the date asked comes back as date_ms
        (a date before now: now), its ATP on the date."""
        c, a, eta = self.c, self.a, self.eta
        midnight, day = day_ms(eta + 2 * DAY)
        at = eta + DAY
        cases = [(str(eta), eta, 112), (str(eta - 1), eta - 1, 12), (day, midnight, 112),
                 (utc(at), at // 1000 * 1000, 112), (utc(at)[:-4] + "Z", at // 60000 * 60000, 112)]
        for when, want_ms, want_atp in cases:
            rc, obj, err = self.ctl_json("promise", a, "east", "--date", when)
            c.check(rc == OK and obj and (obj.get("date_ms"), obj.get("atp_on_date"))
                    == (want_ms, want_atp),
                    "promise --date %s: date_ms %d, ATP %d: %s %r %s", when, want_ms, want_atp,
                    rc, obj, err)
            rc, out, _ = self.ctl("promise", a, "east", "--date", when)
            c.check(rc == OK and "\non %s: ATP %d\n" % (utc(want_ms), want_atp) in out,
                    "promise --date %s (text): %r", when, out)
        before = harness.now_ms()
        rc, obj, _ = self.ctl_json("promise", a, "east", "--date", "+36h")
        after = harness.now_ms()
        c.check(rc == OK and obj and before + 36 * HOUR <= obj.get("date_ms", 0)
                <= after + 36 * HOUR and obj.get("atp_on_date") == 12,
                "promise --date +36h: now + 36 h, ATP 12: %s %r", rc, obj)
        rc, obj, _ = self.ctl_json("promise", a, "east", "--date", "2020-01-01")
        c.check(rc == OK and obj and obj.get("date_ms") == obj.get("now_ms")
                and obj.get("atp_on_date") == 12,
                "promise --date in the past: now (the service says): %s %r", rc, obj)

    def promise_cart(self):
        c, a, eta = self.c, self.a, self.eta
        rc, out, err = self.ctl("promise-cart", "east", a + ":40", self.tag + "NEW:2")
        lines = out.splitlines()
        c.eq((rc, lines[:1], [l.split() for l in lines[1:]]),
             (OK, ["promise cart in east (default): NEVER complete, 1 of 2 lines never covered"],
              [["SKU", "QTY", "ATP", "EARLIEST"], [a, "40", "12", utc(eta)],
               [self.tag + "NEW", "2", "0", "never"]]),
             "promise-cart with a line never covered: exit 0, NEVER (%s)" % err.strip())
        rc, obj, _ = self.ctl_json("promise-cart", "east", a + ":40", self.tag + "NEW:2")
        c.check(rc == OK and obj and obj.get("earliest_ms", 0) is None
                and [l["earliest_ms"] for l in obj.get("lines", [])] == [eta, None],
                "promise-cart --json: earliest_ms null, exit 0: %s %r", rc, obj)
        rc, out, _ = self.ctl("promise-cart", "east", a + ":2", "--channel", "web")
        c.check(rc == OK and out.startswith("promise cart in east (web): complete now, 1 line\n")
                and out.endswith("  2   12  now\n"), "promise-cart, available now: %r", out)
        # lines of one SKU: the earliest date of their sum
        rc, out, _ = self.ctl("promise-cart", "east", a + ":10", a + ":3")
        c.check(rc == OK and out.startswith("promise cart in east (default): complete from %s "
                                            "(in 9d2" % utc(eta))
                and out.count(utc(eta)) == 3,
                "promise-cart, 10 + 3 of one SKU: the lot's ETA: %r", out)

    def preorders(self):
        c, a, eta = self.c, self.a, self.eta
        pre1, pre2, pre3, pre4 = (self.tag + "pre-%d" % i for i in range(1, 5))
        midnight, day = day_ms(eta + 2 * DAY)
        rc, out, err = self.ctl("reserve", pre1, a + ":east:40", "--promise", day, "--ttl", "20d")
        c.check(rc == OK and re.fullmatch(r"reserved %s \(held, expires in (19d23h|20d)\): "
                                          r"%s@east 40\n"
                                          r"promise %s \(dated\)\n"
                                          % (re.escape(pre1), re.escape(a), utc(midnight)), out),
                "reserve --promise %s (after the lot): granted, dated: %s %r %s", day, rc, out,
                err)
        rc, obj, _ = self.ctl_json("reservation", pre1)
        res = (obj or {}).get("reservation", {})
        c.eq((res.get("promise_ms"), res.get("dated")), (midnight, True),
             "reserve --promise YYYY-MM-DD: promise_ms its midnight UTC")
        rc, out, _ = self.ctl("reservation", pre1)
        c.check(rc == OK and "\n  promise    %s (dated)\n" % utc(midnight) in out,
                "reservation of a preorder: %r", out)
        rc, out, _ = self.ctl("promise", a, "east")
        c.check(out.startswith("%s @ east (default): ATP 12 " % a)
                and "\ndated 40  preorder hold 0  max promisable 72\n" in out,
                "a preorder the lot covers takes nothing of today: %r", out)
        # before the lot: present stock only (12)
        rc, out, _ = self.ctl("reserve", pre2, a + ":east:13", "--promise", "+5d", "--ttl", "20d")
        c.check(rc == REFUSED and "refused %s: %s@east wanted 13, available 12  SHORT" % (pre2, a)
                in out, "a preorder before the lot beyond present stock: exit 4: %s %r", rc, out)
        rc, out, _ = self.ctl("reserve", pre3, a + ":east:12", "--promise", "+5d", "--ttl", "20d")
        c.eq(rc, OK, "a preorder before the lot within present stock (%s)" % out.strip())
        rc, out, _ = self.ctl("promise", a, "east")
        c.check(out.startswith("%s @ east (default): ATP 0  supply 12  reserved 12 " % a)
                and "\ndated 52  preorder hold 12  max promisable 60\n" in out
                and "preorder shortfall" not in out,
                "the preorder before the lot holds 12 of today's stock: %r", out)
        rc, out, err = self.ctl("reserve", pre4, a + ":east:1", "--promise", "+2d")
        c.check(rc == ERROR and err.startswith("error bad_request (1): the hold (ttl_ms 15m, "
                                               "the default) ends before promise_ms, 2d")
                and "at least" in err,
                "--promise beyond the TTL (the default 15m): bad_request, exit 1: %s %r", rc,
                err)
        self.send([[9, a, "DC-1", self.tag + "PO-1"]])
        rc, out, _ = self.ctl("promise", a, "east")
        c.check(out.startswith("%s @ east (default): ATP 0  supply 12  reserved 52 " % a)
                and "shortfall 40\n" in out
                and "\ndated 52  preorder hold 52  max promisable 0\npreorder shortfall 40\n"
                in out,
                "the lot cancelled: the preorders need present stock, 40 short: %r", out)

    def due(self):
        """A preorder whose date comes: (dated), then (due); --promise as
        ms since the epoch."""
        c, w = self.c, self.w
        t = harness.now_ms()
        self.send([[6, w, "DC-2", self.tag + "PO-9", 10, t + 500]])
        when = harness.now_ms() + int(2000 * harness.TIME_FACTOR)
        pre = self.tag + "pre-w"
        rc, out, err = self.ctl("reserve", pre, w + ":west:1", "--promise", str(when),
                                "--ttl", "1h")
        c.check(rc == OK and out.endswith("\npromise %s (dated)\n" % utc(when)),
                "reserve --promise <ms>: %s %r %s", rc, out, err)
        rc, obj, _ = self.ctl_json("reservation", pre)
        c.eq((obj or {}).get("reservation", {}).get("promise_ms"), when,
             "reserve --promise <ms>: promise_ms as given")
        harness.wait_until(lambda: (self.ctl_json("reservation", pre)[1] or {})
                           .get("reservation", {}).get("dated") is False,
                           10 + when / 1000.0 - time.time(), 0.1, "%s due" % pre)
        rc, out, _ = self.ctl("reservation", pre)
        c.check(rc == OK and "\n  promise    %s (due)\n" % utc(when) in out,
                "reservation after its date: (due): %r", out)

    def usage_errors(self):
        c, a = self.c, self.a
        for when in BAD_WHEN:
            rc, out, err = self.ctl("promise", a, "east", "--date", when)
            c.check(rc == USAGE and out == "" and err.startswith("atpctl: bad --date '%s': "
                                                                 "expected ms since" % when)
                    and err.rstrip().endswith("nothing was sent"),
                    "promise --date %r: usage error: %s %r", when, rc, err)
            rid = self.tag + "bad-when"
            rc, out, err = self.ctl("reserve", rid, a + ":east:1", "--promise", when,
                                    "--ttl", "20d")
            c.check(rc == USAGE and err.startswith("atpctl: bad --promise '%s'" % when),
                    "reserve --promise %r: usage error: %s %r", when, rc, err)
        rc, _, err = self.ctl("reservation", self.tag + "bad-when")
        c.check(rc == ERROR and "not_found" in err, "no bad --promise stored anything: %r", err)
        for args, why in ((["promise", a, "east", "--qty", "0"], "bad --qty '0'"),
                          (["promise", a, "east", "--qty", "1.5"], "bad --qty '1.5'"),
                          (["promise", a, "east", "--qty", ""], "--qty needs a quantity"),
                          (["promise", a, "east", "--date", ""], "--date needs a date"),
                          (["promise-cart", "east", a + ":0"], "expected SKU:QTY"),
                          (["promise-cart", "east", a], "expected SKU:QTY"),
                          (["promise-cart", "east"], "missing arguments"),
                          (["promise", a], "missing arguments"),
                          (["promise", a, "east", "--promise", "+1d"],
                           "promise does not take --promise"),
                          (["promise-cart", "east", a + ":1", "--qty", "1"],
                           "promise-cart does not take --qty"),
                          (["reserve", "x", a + ":east:1", "--date", "+1d"],
                           "reserve does not take --date"),
                          (["atp", a, "east", "--date", "+1d"], "atp does not take --date")):
            rc, out, err = self.ctl(*args)
            c.check(rc == USAGE and why in err, "%s: usage error (%s): %s %r", " ".join(args),
                    why, rc, err)


def main(h):
    c = harness.Checks(h)
    cfg = harness.build_config(
        h, [{"id": "east", "inbound_horizon": "1d"}, {"id": "west", "inbound_horizon": 0}],
        [("DC-1", "east"), ("DC-2", "west")],
        [harness.source_entry("erp", [(["DC-1", "DC-2"], BUCKETS)])],
        reservations={"max_ttl": "366d"}, http_listen="http://127.0.0.1:0")
    d = harness.Atpd(h, cfg, "atpd").start()
    q = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, q)
    http_url = d.ready.get("http", "")
    c.check(http_url.startswith("http://127.0.0.1:"), "the ready file names the HTTP URL: %r",
            http_url)

    Scenario(h, c, q, pub, d.query_url, "").run()
    Scenario(h, c, q, pub, http_url, "h-").run()

    # Error replies print the same over both (no times in them).
    for args in (["promise", "A", "mars"], ["promise", "A", "east", "--channel", "tv"],
                 ["promise", "S" * 65, "east"], ["promise-cart", "mars", "A:1"],
                 ["promise-cart", "east", "A:1", "S" * 65 + ":1"],
                 ["promise-cart", "east", "A:600000000000000", "A:600000000000000"],
                 ["reserve", "x-1", "A:east:1", "--promise", "+2d", "--backorder"]):
        got = [harness.run_ctl(h, ["--endpoint", ep] + args) for ep in (d.query_url, http_url)]
        c.eq((got[1].returncode, got[1].stdout, got[1].stderr),
             (got[0].returncode, got[0].stdout, got[0].stderr),
             "atpctl %s: the same over HTTP as over nng" % " ".join(args)[:80])
        c.eq(got[0].returncode, ERROR, "atpctl %s: exit 1 (%s)" % (" ".join(args)[:80],
                                                                   got[0].stderr.strip()))
    r = harness.run_ctl(h, ["--endpoint", d.query_url, "promise-cart", "east", "A:1",
                            "S" * 65 + ":1"])
    c.check("(line 2: %s:1)" % ("S" * 65) in r.stderr,
            "a promise-cart error names its SKU:QTY argument: %r", r.stderr)

    # A bad WHEN is refused before any connection: exit 2, not 3, where
    # nothing listens.
    free = harness.free_ports(1)[0]
    for ep in ("tcp://127.0.0.1:%d" % free, "http://127.0.0.1:%d" % free):
        for args in (["promise", "A", "east", "--date", "2026-02-30"],
                     ["reserve", "r", "A:east:1", "--promise", "soon"]):
            r = harness.run_ctl(h, ["--endpoint", ep, "--timeout", "500"] + args)
            c.eq(r.returncode, USAGE, "%s against nothing (%s): usage, nothing sent"
                 % (" ".join(args), ep))
        r = harness.run_ctl(h, ["--endpoint", ep, "--timeout", "500", "promise", "A", "east"])
        c.eq(r.returncode, UNREACHABLE, "promise against nothing (%s): exit 3" % ep)

    r = harness.run_ctl(h, ["help", "promise"])
    c.check(r.returncode == OK and "--date WHEN" in r.stdout, "help promise: %r", r.stdout)
    r = harness.run_ctl(h, ["--help"])
    c.check(all(x in r.stdout for x in ("promise-cart REGION", "--promise WHEN", "--qty Q",
                                        "YYYY-MM-DDTHH:MM[:SS]Z")),
            "--help names the commands, options and WHEN forms")
    pub.close()
    q.close()
    c.eq(d.stop(), 0, "clean stop")
    c.done()


if __name__ == "__main__":
    harness.run(main, "phased_ctl")

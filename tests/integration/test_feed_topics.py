#!/usr/bin/python3
"""test_feed_topics.py - change-feed topics and prefix subscriptions.

SKUs A1, A10 and A100 in regions east, west and east2 (a region whose name
starts with another's). Every step sets one (sku, region) to a new value
and waits until the feed carried it, so each step is exactly one message.
The last step is A1@east, so a foreign message delivered to a narrow
subscriber would show up among its first --count messages.

1. `atpctl watch` as a real nng subscriber (--json --count N):
   east A1 -> only A1@east (not A10, A100, not A1 in west/east2);
   east -> only east (not east2); no region -> everything. Each exits 0
   on its own after N; values, order and the matching sequence (key_seq,
   region_seq, seq) are exact, no gap lines. A watch without --count,
   stopped with SIGINT (Ctrl-C), exits 0 with exactly the A1@east messages.
2. The raw SUB client (SP over TCP, prefix filtered on this side) with the
   same three prefixes: topic bytes are "atp\\0region\\0sku\\0" and agree
   with the body; the all-subscriber sees every step once, in order.
3. Exit codes: a bad feed URL is 2; nothing listening, or nothing
   published, is 0 after --duration; bad arguments are 2.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util as F  # noqa: E402
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

SKUS = ["A1", "A10", "A100"]
REGIONS = {"east": "E1", "west": "W1", "east2": "E2"}


def steps_plan():
    """[(sku, region, on_hand)]: three rounds over every key, A1@east last."""
    keys = [(s, r) for r in REGIONS for s in SKUS]
    plan, v = [], 100
    for rnd in range(3):
        order = keys[rnd:] + keys[:rnd]
        for k in order:
            if k == ("A1", "east"):
                continue
            v += 1
            plan.append((k[0], k[1], v))
        v += 1
        plan.append(("A1", "east", v))
    return plan


def check_watch(ck, name, w, rc, want, seq_key):
    """want: [(sku, region, supply)] in order."""
    ck.eq(rc, 0, "%s: exit status" % name)
    msgs = w.messages()
    got = [(m.get("sku"), m.get("region"), m.get("supply")) for m in msgs]
    ck.eq(got, want, "%s: (sku, region, supply) of every message" % name)
    ck.eq(w.gaps(), [], "%s: gap lines" % name)
    ck.eq(w.bad, [], "%s: lines that are not JSON" % name)
    for m in msgs:
        t = m.get("topic") or {}
        ck.check(t.get("region") == m.get("region") and t.get("sku") == m.get("sku"),
                 "%s: topic %r disagrees with the body (%s@%s)", name, t, m.get("sku"),
                 m.get("region"))
    seqs = [m.get(seq_key) for m in msgs]
    if seqs:
        ck.eq(seqs, list(range(seqs[0], seqs[0] + len(seqs))),
              "%s: %s is contiguous" % (name, seq_key))


def main(h):
    ck = harness.Checks(h)
    cfg = F.feed_config(h, list(REGIONS), [(loc, r) for r, loc in REGIONS.items()],
                        [("wms", list(REGIONS.values()))], channels=("web",))
    d = h.start_atpd(cfg)
    q = F.Query(d)
    fd = F.Feeder(d, q)
    plan = steps_plan()
    want_key = [(s, r, v) for s, r, v in plan if (s, r) == ("A1", "east")]
    want_region = [(s, r, v) for s, r, v in plan if r == "east"]
    want_west_a1 = [(s, r, v) for s, r, v in plan if (s, r) == ("A1", "west")]

    # The source's first message turns it from waiting (stale) to ok, which
    # republishes every row of its regions: a heartbeat first, while there
    # are no rows, so each step below is exactly one message.
    fd.publish("wms", [[3]])

    # ---- subscribers first (each one counted by atpd before any step)
    base = F.feed_subscribers(d)
    wk = F.Watch(h, d, ["east", "A1", "--count", len(want_key), "--duration", "120s"], "w-key")
    wr = F.Watch(h, d, ["east", "--count", len(want_region), "--duration", "120s"], "w-region")
    wa = F.Watch(h, d, ["--count", len(plan), "--duration", "120s"], "w-all")
    ww = F.Watch(h, d, ["west", "A1", "--duration", "120s"], "w-west-a1")
    wc = F.Watch(h, d, ["east", "A1"], "w-ctrl-c")
    watches = [wk, wr, wa, ww, wc]
    for w in watches:
        w.wait_connected()
    F.wait_subscribers(d, base + len(watches), "every atpctl watch")
    subs = {
        "key": F.Sub(d, [F.prefix("east", "A1")]),
        "region": F.Sub(d, [F.prefix("east")]),
        "all": F.Sub(d, [F.prefix()]),
    }
    h.log("%d watches and %d raw subscribers connected; %d steps", len(watches),
          len(subs), len(plan))

    # ---- the steps, one feed message each
    seen_all = []
    for sku, region, v in plan:
        fd.publish("wms", [[2, sku, REGIONS[region], 0, v]])
        seen_all += subs["all"].wait_for(
            lambda r, s, b: (s, r, b.get("supply")) == (sku, region, v), 10,
            "%s@%s supply %d" % (sku, region, v))
    h.log("every step published")

    rcs = {w: w.wait_exit(30) for w in (wk, wr, wa)}
    time.sleep(F.interval_s(d) * 4)
    rc_ww = ww.stop()
    rc_wc = wc.stop()
    check_watch(ck, "watch east A1 --count", wk, rcs[wk], want_key, "key_seq")
    check_watch(ck, "watch east --count", wr, rcs[wr], want_region, "region_seq")
    check_watch(ck, "watch --count", wa, rcs[wa], [(s, r, v) for s, r, v in plan], "seq")
    check_watch(ck, "watch west A1 (SIGINT)", ww, rc_ww, want_west_a1, "key_seq")
    check_watch(ck, "watch east A1 (SIGINT)", wc, rc_wc, want_key, "key_seq")

    # ---- the raw subscribers
    seen_all += subs["all"].quiet(F.interval_s(d) * 4)
    got = {"all": seen_all}
    for name in ("key", "region"):
        got[name] = subs[name].quiet(F.interval_s(d) * 4)
    wants = {"key": want_key, "region": want_region, "all": plan}
    for name, sub in subs.items():
        msgs = got[name]
        ck.eq([(s, r, b.get("supply")) for r, s, b, _ in msgs], [tuple(x) for x in wants[name]],
              "raw SUB %s: (sku, region, supply) of every message" % name)
        for r, s, b, _ in msgs:
            ck.check(b.get("region") == r and b.get("sku") == s,
                     "raw SUB %s: topic %s/%s, body %s/%s", name, r, s, b.get("region"),
                     b.get("sku"))
            ck.eq([c.get("channel") for c in b.get("channels") or []], ["default", "web"],
                  "raw SUB %s: channels in configuration order" % name)
        h.log("raw SUB %s: %d messages kept, %d filtered out on this side",
              name, len(msgs), sub.filtered)
        sub.close()
    ck.eq(subs["all"].filtered, 0, "raw SUB all: messages not starting with 'atp\\0'")
    ck.eq(subs["key"].received, len(plan),
          "raw SUB key: PUB sends every message over TCP (filtering is the SUB's)")
    seqs = [b["seq"] for _, _, b, _ in seen_all]
    ck.eq(seqs, list(range(seqs[0], seqs[0] + len(seqs))) if seqs else [],
          "raw SUB all: seq contiguous")

    # ---- exit codes
    def run_watch(args, timeout_s=20):
        r = subprocess.run([h.atpctl_bin, "watch", "--endpoint", d.query_url] +
                           [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout_s * F.TF,
                           preexec_fn=harness._pdeathsig)
        return r.returncode, r.stdout, r.stderr

    for url in ("foo://127.0.0.1:1", "tcp://127.0.0.1:99999", "not a url"):
        rc, out, err = run_watch(["--feed", url, "--duration", "5s"])
        ck.eq(rc, 2, "watch --feed %r: exit status (stderr %r)" % (url, err.strip()))
    for args in (["--count", "0"], ["--duration", "0"], ["--duration", "soon"],
                 ["east", "A1", "extra"], ["east", "--limit", "3"], [""],
                 ["east", "bad\tsku"]):
        rc, out, err = run_watch(["--feed", F.feed_url(d)] + args)
        ck.eq(rc, 2, "watch %r: exit status (stderr %r)" % (args, err.strip()[:200]))
    # Nothing published meanwhile: exit 0 after the duration, no output.
    t0 = time.monotonic()
    rc, out, err = run_watch(["--feed", F.feed_url(d), "east", "A1", "--json",
                              "--duration", "400ms"])
    took = time.monotonic() - t0
    ck.eq((rc, out), (0, ""), "quiet watch for 400ms: (exit, stdout)")
    ck.check(0.4 <= took < 10 * F.TF, "quiet watch for 400ms took %.2f s", took)
    # Nothing listening at all: still not an error.
    port = harness.free_ports(1)[0]
    env = dict(os.environ, ATPD_FEED="tcp://127.0.0.1:%d" % port)
    r = subprocess.run([h.atpctl_bin, "watch", "--duration", "300ms"], capture_output=True,
                       text=True, timeout=20 * F.TF, env=env, preexec_fn=harness._pdeathsig)
    ck.eq(r.returncode, 0, "watch with nothing listening at $ATPD_FEED: exit status")
    ck.check(str(port) in r.stderr, "watch names $ATPD_FEED's URL on stderr: %r", r.stderr)

    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "feed_topics")

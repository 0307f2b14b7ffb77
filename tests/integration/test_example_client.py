#!/usr/bin/python3
"""test_example_client.py - docs/examples/client.py, the Python client of
docs/PROTOCOL.md, works against a real atpd: a source publishes stock, the
client reads ATP and a cart, reserves, commits, releases, scans, gets
errors as AtpError (with `line` on a reserve), and the change feed
delivers the region's messages; the command-line entry prints ATP.

Label: integration, correctness. Bounded: about 5 s.
"""

import importlib.util
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402


def load_example(h):
    path = os.path.join(h.source_dir, "docs", "examples", "client.py")
    spec = importlib.util.spec_from_file_location("atp_example_client", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, path


def main(h):
    ex, path = load_example(h)
    cfg = harness.build_config(
        h, ["us-east", "eu"], [("DC-1", "us-east"), ("DC-2", "eu")],
        [harness.source_entry("wms", [(["DC-1", "DC-2"], ["on_hand", "allocated", "held"])])],
        channels=["web"], buffers=[{"channel": "web", "units": 2}])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    svc = cfg["service"]

    c = ex.Client(svc["query_listen"])
    feed = ex.Feed(svc["feed_listen"], region="us-east")
    src = ex.Source(svc["ingest_listen"], "wms")
    seq = src.publish([[ex.Source.SET, "SKU-1", "DC-1", ex.Source.ON_HAND, 10],
                       [ex.Source.SET, "SKU-1", "DC-2", ex.Source.ON_HAND, 4]])
    harness.wait_until(lambda: c.sources()["wms"]["last_seq"] == seq, 10, 0.02,
                       "the example's message applied")
    # the region turns fresh on atpd's next tick (PROTOCOL.md, "Stale")
    harness.wait_until(lambda: c.atp("SKU-1", "us-east")["stale"] is False, 10, 0.01,
                       "us-east fresh")

    a = c.atp("SKU-1", "us-east", channel="web")
    ck.eq((a["atp"], a["supply"], a["buffer"], a["rule"], a["stale"]),
          (8, 10, 2, "channel", False), "atp via the example client")
    cart = c.cart([("SKU-1", "us-east", 3), ("SKU-1", "eu", 5)])
    ck.eq((cart["available"], [l["available"] for l in cart["lines"]]),
          (False, [True, False]), "cart")

    r = c.reserve("ex-1", [("SKU-1", "us-east", 3)], ttl_ms=60000)
    ck.eq((r["granted"], r["reservation"]["state"]), (True, "held"), "reserve")
    ck.eq(c.atp("SKU-1", "us-east")["reserved"], 3, "reserved after the hold")
    ck.eq(c.commit("ex-1", order_ref="SO-1")["reservation"]["state"], "committed", "commit")
    ck.eq(c.release("ex-1")["reservation"]["state"], "released", "release")
    refused = c.reserve("ex-2", [("SKU-1", "eu", 50)])
    ck.eq((refused["granted"], refused["lines"][0]["available"]), (False, 4),
          "a refusal is an answer")
    ck.eq([i["sku"] for i in c.scan("us-east", limit=1)], ["SKU-1"], "scan")

    try:
        c.reserve("ex-3", [("SKU-1", "us-east", 1), ("SKU-1", "mars", 1)])
        ck.check(False, "a reserve naming an unknown region raised nothing")
    except ex.AtpError as e:
        ck.eq((e.code, e.name, e.line), (3, "unknown_region", 1), "AtpError of a reserve line")
        ck.check("regions: us-east, eu" in str(e), "the error lists the regions: %s" % e)

    region, sku, body = feed.next(timeout_s=10 * harness.TIME_FACTOR)
    ck.eq((region, sku, body["region"], body["sku"]), ("us-east", "SKU-1", "us-east", "SKU-1"),
          "change feed message of the subscription")
    ck.check(isinstance(body["seq"], int) and body["channels"][0]["channel"] == "default",
             "change feed body: %r" % body)

    env = dict(os.environ, ATPD_ENDPOINT=svc["query_listen"])
    r = subprocess.run([sys.executable, path, "atp", "SKU-1", "eu"], capture_output=True,
                       text=True, timeout=30 * harness.TIME_FACTOR, env=env, cwd=h.tmp)
    ck.eq((r.returncode, r.stdout.strip()), (0, "SKU-1 @ eu: ATP 4 (supply 4, reserved 0, buffer 0)"),
          "the example as a command (stderr %r)" % r.stderr)
    for conn in (c, feed, src):
        conn.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    try:
        import msgpack  # noqa: F401
    except ImportError:
        raise SystemExit("python3-msgpack is missing: scripts/install-deps.sh installs it")
    harness.run(main, "example_client")

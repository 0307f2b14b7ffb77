#!/usr/bin/python3
"""test_http_curl.py - a checkout with nothing but curl (issue 13, "a
checkout developer can reserve, commit and release from any language with
only an HTTP client and docs/openapi.yaml"): every call below is a plain
`curl` command line against the documented routes; this script only runs
them and reads what curl prints. The source feeding the stock is the one
non-HTTP part (a WMS, over nng).

Label: integration, http. Bounded: about 5 s.
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import openapi_util  # noqa: E402
from harness import TestFailure  # noqa: E402


def curl(url, method, path, body=None):
    """Run curl; returns (status, parsed JSON body, raw headers)."""
    argv = ["curl", "--silent", "--show-error", "--max-time", str(int(10 * harness.TIME_FACTOR)),
            "--request", method, "--dump-header", "-",
            "--header", "Accept: application/json"]
    if body is not None:
        argv += ["--header", "Content-Type: application/json", "--data-binary", body]
    argv.append(url + path)
    p = subprocess.run(argv, capture_output=True, timeout=20 * harness.TIME_FACTOR)
    if p.returncode != 0:
        raise TestFailure("%s failed (exit %d): %s" % (" ".join(argv), p.returncode,
                                                       p.stderr.decode(errors="replace")))
    out = p.stdout.decode("utf-8")
    head, _, payload = out.replace("\r\n", "\n").partition("\n\n")
    status = int(head.split("\n", 1)[0].split()[1])
    try:
        return status, json.loads(payload), head
    except ValueError:
        raise TestFailure("%s: the body is not JSON: %r" % (" ".join(argv), payload[:300]))


def main(h):
    if shutil.which("curl") is None:
        harness.skip("curl is not installed (scripts/install-deps.sh installs it)")
    ck = harness.Checks(h)
    cfg = harness.build_config(h, ["us-east"], [("DC-1", "us-east")],
                               [harness.source_entry("wms", [(["DC-1"], ["on_hand"])])],
                               channels=("web",))
    d, url = openapi_util.start_atpd(h, cfg)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)
    _, msg = pub.next_batch("wms", [[2, "SKU-1", "DC-1", 0, 10]])
    pub.send_payload(msg)
    pub.wait_applied("wms")

    def atp():
        st, r, _ = curl(url, "GET", "/v1/availability/SKU-1/us-east?channel=web")
        ck.eq(st, 200, "GET availability: status")
        return r.get("atp")

    ck.eq(atp(), 10, "ATP before the checkout")
    order = json.dumps({"id": "checkout-42", "channel": "web", "ttl_ms": 900000,
                        "lines": [{"sku": "SKU-1", "region": "us-east", "qty": 2}]})
    st, r, head = curl(url, "POST", "/v1/reservations", order)
    ck.eq((st, r.get("ok"), r.get("granted"), r.get("replayed")), (201, True, True, False),
          "POST /v1/reservations: created (%r)" % r)
    ck.eq(r.get("reservation", {}).get("state"), "held", "the reservation is held")
    ck.eq(atp(), 8, "ATP while held")
    st, r, _ = curl(url, "POST", "/v1/reservations", order)
    ck.eq((st, r.get("replayed")), (200, True), "the same POST again: the original answer")
    st, r, _ = curl(url, "POST", "/v1/reservations",
                    json.dumps({"id": "checkout-42", "lines": [["SKU-1", "us-east", 3]]}))
    ck.eq((st, r.get("error", {}).get("name")), (409, "conflict"),
          "the same id with other content: 409 conflict")
    st, r, _ = curl(url, "POST", "/v1/reservations/checkout-42/commit",
                    json.dumps({"order_ref": "SO-42"}))
    ck.eq((st, r.get("reservation", {}).get("state"), r.get("reservation", {}).get("order_ref")),
          (200, "committed", "SO-42"), "commit (%r)" % r)
    ck.eq(atp(), 8, "ATP while committed")
    st, r, _ = curl(url, "GET", "/v1/reservations/checkout-42")
    ck.eq((st, r.get("reservation", {}).get("state")), (200, "committed"), "GET the reservation")
    st, r, _ = curl(url, "DELETE", "/v1/reservations/checkout-42")
    ck.eq((st, r.get("reservation", {}).get("state")), (200, "released"), "DELETE releases")
    ck.eq(atp(), 10, "ATP after the release")
    st, r, _ = curl(url, "POST", "/v1/reservations/checkout-42/release")
    ck.eq((st, r.get("replayed")), (200, True), "releasing again: replayed")
    st, r, head = curl(url, "PUT", "/v1/reservations/checkout-42")
    ck.eq((st, r.get("error", {}).get("name")), (405, "unknown_op"), "PUT: 405")
    ck.check("allow:" in head.lower(), "405 has an Allow header: %r" % head)
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "http_curl")

#!/usr/bin/python3
"""test_import_csv.py - atp-import with CSV files, --snapshot, files larger
than one message, restarts of atpd, the state lock, exit 4 and a lost
state directory; written from docs/IMPORT.md alone (docs/PROTOCOL.md for
what atpd then shows):

1. A stock CSV (UTF-8 BOM, CRLF, a quoted field holding the delimiter and
   "", spaces around unquoted fields, a blank line); custom columns by
   (case-insensitive) header name and number with `;` and a bucket
   column; --no-header with `|`; --delimiter tab; --bucket allocated; an
   inbound CSV (lot, eta in every documented form).
2. Bad CSVs (a missing field, qty 12.5, an unknown location, a position
   given two values, a bad eta, a lot given twice, a negative lot qty,
   60 bad rows: 50 printed then "... and 10 more"): exit 1, errors in
   both forms, nothing changed in atpd nor in the state directory.
3. --snapshot: a stock file sets every other bucket value to 0 and keeps
   the lots; an inbound file replaces the lots and keeps the stock.
4. Files with more events than service.max_events_per_message (50 here):
   a stock CSV, an inbound CSV and an 846, each applied whole (sent as a
   snapshot), the rest of the state kept.
5. Exit 4: a --config with a location atpd's running configuration lacks;
   the next import applies and the rejected file's events are gone.
6. kill -9 of atpd (snapshot_interval 1h: it restarts with nothing, or
   with what `snapshot` stored) between imports: the next import brings
   atpd to the model.
7. A second atp-import on the same --state (the lock held): exit 2.
8. A lost state directory: its run is a second publisher (exit 3,
   `conflicts`, nothing changed); after `source reset` its snapshot is
   all atpd has of the source.
"""

import copy
import fcntl
import hashlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_import_x12 import (SOURCE, Importer, Model, Unchanged, check_accepted,  # noqa: E402
                             check_rejected_human, check_rejected_json, compare, data_path,
                             import_config, ms, norm_events, src_counters, start,
                             x12_interchange)

TF = harness.TIME_FACTOR
MAX_EVENTS = 50
INBOUND_COLS = "sku=sku,location=location,qty=qty,lot=lot,eta=eta"


def write(h, name, text):
    path = os.path.join(h.tmp, name)
    with open(path, "w", newline="") as f:
        f.write(text)
    return path


def part_stock(h, c, imp, q, model):
    h.log("stock CSVs: BOM, CRLF, quoting, custom columns, --no-header, tab, --bucket")
    f = data_path(h, "stock.csv")
    r = imp.imp(f)
    # docs/IMPORT.md: a first run (an empty state) starts with a snapshot
    check_accepted(c, r, "stock.csv", q=q, sent_as="snapshot", fmt="csv", sets=4, lots=0, lot_cancels=0,
                   locations=2)
    model.apply_events([("set", "SKU-1", "DC-EAST", "on_hand", 120),
                        ("set", "SKU,2", "DC-EAST", "on_hand", 7),
                        ("set", "SKU-3", "DC-WEST", "on_hand", 15),
                        ("set", 'SKU "Q"', "DC-WEST", "on_hand", 4)])
    compare(c, q, model, "after stock.csv")
    c.eq(q.atp("SKU,2", "east").get("supply"), 7, "atp 'SKU,2' east (a quoted field)")

    f = data_path(h, "stock-semicolon.csv")
    r = imp.imp(f, "--delimiter", ";", "--csv-columns",
                "sku=ARTIKEL,location=lager,qty=Bestand,bucket=4")
    check_accepted(c, r, "stock-semicolon.csv", q=q, fmt="csv", sets=3, locations=2)
    model.apply_events([("set", "SKU-1", "DC-WEST", "on_hand", 50),
                        ("set", "SKU-1", "DC-WEST", "held", 3),
                        ("set", "SKU-4", "DC-EAST", "on_hand", 11)])
    compare(c, q, model, "after stock-semicolon.csv")
    c.eq(q.atp("SKU-1", "west").get("supply"), 47, "atp SKU-1 west: on_hand 50 - held 3")

    f = data_path(h, "stock-noheader.csv")
    r = imp.imp(f, "--no-header", "--delimiter", "|", "--csv-columns", "sku=2,location=1,qty=3")
    check_accepted(c, r, "stock-noheader.csv", q=q, sets=2)
    model.apply_events([("set", "SKU-5", "DC-EAST", "on_hand", 77),
                        ("set", "SKU-5", "DC-WEST", "on_hand", 33)])
    compare(c, q, model, "after stock-noheader.csv")

    f = write(h, "alloc.csv", "sku,location,qty\nSKU-5,DC-EAST,4\n")
    r = imp.imp(f, "--bucket", "allocated")
    check_accepted(c, r, "--bucket allocated", q=q, sets=1)
    model.set("SKU-5", "DC-EAST", "allocated", 4)
    f = write(h, "tab.csv", "sku\tlocation\tqty\nSKU-6\tDC-WEST\t8\n")
    r = imp.imp(f, "--delimiter", "tab")
    check_accepted(c, r, "--delimiter tab", q=q, sets=1)
    model.set("SKU-6", "DC-WEST", "on_hand", 8)
    compare(c, q, model, "after --bucket allocated and --delimiter tab")
    c.eq(q.atp("SKU-5", "east").get("supply"), 73, "atp SKU-5 east: 77 - allocated 4")


def part_inbound(h, c, imp, q, model):
    h.log("inbound CSV: lots, every eta form")
    f = data_path(h, "inbound.csv")
    r = imp.imp(f, "--csv-columns", INBOUND_COLS, check=True)
    o = check_accepted(c, r, "--check inbound.csv", sent_as="none", fmt="csv", lots=5, sets=0)
    want = [("lot_add", "SKU-1", "DC-EAST", "PO-9001", 40, ms(2026, 12, 20)),
            ("lot_add", "SKU-1", "DC-WEST", "PO-9001", 25, ms(2026, 12, 21)),
            ("lot_add", "SKU,2", "DC-EAST", "PO-9002", 12, ms(2026, 12, 22, 8, 30)),
            ("lot_add", "SKU-3", "DC-WEST", "PO-9003", 6, ms(2026, 12, 23, 17, 45, 10)),
            ("lot_add", "SKU-4", "DC-EAST", "PO-9004", 9, ms(2026, 12, 24, 6, 15, 30))]
    c.eq(norm_events(o.get("events")), norm_events(want), "inbound.csv: events (eta forms)")
    r = imp.imp(f, "--csv-columns", INBOUND_COLS)
    check_accepted(c, r, "inbound.csv", q=q, fmt="csv", lots=5, sets=0, locations=2)
    model.apply_events(want)
    compare(c, q, model, "after inbound.csv")


def bad_cases(h):
    """(path, options, lines, reason regex, element values, csv column must be named)."""
    p = lambda n: data_path(h, n)  # noqa: E731
    cases = [
        (p("bad-missing-field.csv"), [], {3}, r"field|column|missing", None, False),
        (p("bad-qty.csv"), [], {3}, r"12\.5|integer|qty|quantit", {3}, True),
        (p("bad-location.csv"), [], {3}, r"DC-MARS|location", {2}, True),
        (p("bad-dup.csv"), [], {2, 3}, r"twice|duplicate|SKU-1|99[89]|already", None, False),
        (p("bad-eta.csv"), ["--csv-columns", INBOUND_COLS], {3}, r"eta|date|next week", {5},
         True),
    ]
    f = write(h, "bad-lot-twice.csv", "sku,location,qty,lot,eta\nSKU-1,DC-EAST,1,PO-1,2026-12-20\n"
              "SKU-7,DC-EAST,2,PO-7,2026-12-21\nSKU-7,DC-EAST,3,PO-7,2026-12-21\n")
    cases.append((f, ["--csv-columns", INBOUND_COLS], {3, 4}, r"twice|duplicate|PO-7|already",
                  None, False))
    f = write(h, "bad-lot-negative.csv", "sku,location,qty,lot,eta\nSKU-1,DC-EAST,1,PO-1,2026-12-20\n"
              "SKU-7,DC-EAST,-2,PO-8,2026-12-21\n")
    cases.append((f, ["--csv-columns", INBOUND_COLS], {3}, r"-2|negative|>= ?0|qty|quantit", {3},
                  True))
    f = write(h, "bad-store-inbound.csv", "sku,location,qty,lot,eta\n"
              "SKU-7,STORE-9,2,PO-9,2026-12-21\n")
    cases.append((f, ["--csv-columns", INBOUND_COLS], {2}, r"STORE-9|inbound|authority", {2},
                  True))
    return cases


def part_bad(h, c, imp, q):
    h.log("bad CSVs: exit 1, errors, nothing changed")
    for path, opts, lines, reason, element, named in bad_cases(h):
        name = os.path.basename(path)
        un = Unchanged(q, imp)
        r = imp.imp(path, *opts)
        e = check_rejected_json(c, r, name + " --json", path, lines, reason, element=element,
                                segment={0})
        r = imp.imp(path, *opts, json_out=False)
        row = e is not None and e.get("element") == 0 and not named
        m = check_rejected_human(c, r, name, path, lines, reason, kind="csv", row_level=row)
        if m is not None and named and e is not None:
            col = m.group("col").strip().lower()
            names = {2: "location", 3: "qty", 5: "eta"}
            c.check(col in (names.get(e.get("element")), str(e.get("element"))),
                    "%s: column %r named, want %r", name, col, names.get(e.get("element")))
        un.check(c, name)

    h.log("a bad file as the first run of an empty state directory")
    fresh = Importer(h, imp.config_path)
    r = fresh.imp(data_path(h, "bad-qty.csv"))
    c.eq(r.rc, 1, "bad-qty.csv into an empty state directory: exit")
    c.check(SOURCE + ".state" not in os.listdir(fresh.state_dir),
            "a rejected first run wrote %s.state", SOURCE)
    c.eq(sorted(os.listdir(fresh.state_dir)), [],
         "a rejected first run leaves its state directory as it was (empty)")

    h.log("60 bad rows: 50 errors printed, then '... and 10 more'")
    rows = "".join("SKU-M%02d,DC-EAST,x%d\n" % (i, i) for i in range(60))
    f = write(h, "bad-many.csv", "sku,location,qty\n" + rows)
    un = Unchanged(q, imp)
    r = imp.imp(f)
    c.eq(r.rc, 1, "bad-many.csv --json: exit")
    c.eq((r.obj or {}).get("error_count"), 60, "bad-many.csv: error_count")
    r = imp.imp(f, json_out=False)
    lines = [l for l in r.err.splitlines() if l.strip()]
    errs = [l for l in lines if "bad-many.csv:" in l]
    c.eq(len(errs), 50, "bad-many.csv: error lines on stderr")
    c.check(any(l.strip() == "... and 10 more" for l in lines),
            "bad-many.csv: '... and 10 more' on stderr: %r", lines[-3:])
    un.check(c, "bad-many.csv")


def part_snapshot(h, c, imp, q, model):
    h.log("--snapshot: stock replaces every bucket value, inbound every lot")
    snaps = src_counters(q)["snapshots_applied"] or 0
    f = write(h, "snap-stock.csv", "sku,location,qty\nSKU-1,DC-EAST,1\n")
    r = imp.imp(f, "--snapshot")
    check_accepted(c, r, "--snapshot stock CSV", q=q, sent_as="snapshot", sets=1)
    lots_before = dict(model.lots)
    c.check(lots_before, "the model has lots before the stock snapshot")
    model.b = {("SKU-1", "DC-EAST", "on_hand"): 1}
    compare(c, q, model, "after --snapshot stock CSV (lots kept, the rest 0)")
    c.eq(q.atp("SKU-5", "east").get("supply"), 0, "atp SKU-5 east after the stock snapshot")
    c.check((src_counters(q)["snapshots_applied"] or 0) > snaps,
            "sources: snapshots_applied grew with --snapshot")
    f = write(h, "snap-inbound.csv", "sku,location,qty,lot,eta\nSKU-7,DC-WEST,3,PO-9500,2026-12-30\n")
    r = imp.imp(f, "--snapshot", "--csv-columns", INBOUND_COLS)
    check_accepted(c, r, "--snapshot inbound CSV", q=q, sent_as="snapshot", lots=1)
    model.lots = {("SKU-7", "DC-WEST", "PO-9500"): (3, ms(2026, 12, 30))}
    compare(c, q, model, "after --snapshot inbound CSV (stock kept, other lots gone)")


def part_large(h, c, imp, q, model):
    h.log("files with more than max_events_per_message (%d) events", MAX_EVENTS)
    n = MAX_EVENTS + 10
    rows = "".join("SKU-L%02d,%s,%d\n" % (i, "DC-EAST" if i % 2 else "DC-WEST", 100 + i)
                   for i in range(n))
    f = write(h, "large-stock.csv", "sku,location,qty\n" + rows)
    r = imp.imp(f, check=True)
    o = check_accepted(c, r, "--check large stock CSV", sent_as="none", sets=n)
    c.eq(len(o.get("events") or []), n, "--check large stock CSV: events")
    r = imp.imp(f)
    check_accepted(c, r, "large stock CSV", q=q, sent_as="snapshot", sets=n)
    for i in range(n):
        model.set("SKU-L%02d" % i, "DC-EAST" if i % 2 else "DC-WEST", "on_hand", 100 + i)
    compare(c, q, model, "after the large stock CSV (the rest kept)")

    rows = "".join("SKU-L%02d,DC-EAST,%d,PO-L%02d,2026-12-%02d\n" % (i, i + 1, i, 1 + i % 28)
                   for i in range(n))
    f = write(h, "large-inbound.csv", "sku,location,qty,lot,eta\n" + rows)
    r = imp.imp(f, "--csv-columns", INBOUND_COLS)
    check_accepted(c, r, "large inbound CSV", q=q, sent_as="snapshot", lots=n)
    for i in range(n):
        model.lot_add("SKU-L%02d" % i, "DC-EAST", "PO-L%02d" % i, i + 1, ms(2026, 12, 1 + i % 28))
    compare(c, q, model, "after the large inbound CSV (the rest kept)")

    segs = ["BIA*00*MM*BIG*20261207", "N1*WH*EAST*92*DC-EAST"]
    for i in range(n):
        segs += ["LIN*%d*SK*SKU-X%02d" % (i + 1, i), "QTY*17*%d*EA" % (200 + i)]
    f = write(h, "large.846.edi", x12_interchange([("846", segs)], ctrl=900))
    r = imp.imp(f)
    check_accepted(c, r, "large 846", q=q, sent_as="snapshot", sets=n, fmt="x12")
    for i in range(n):
        model.set("SKU-X%02d" % i, "DC-EAST", "on_hand", 200 + i)
    compare(c, q, model, "after the large 846 (the rest kept)")


def part_exit4(h, c, imp, q, model, cfg):
    h.log("exit 4: the --config has a location atpd's running configuration lacks")
    cfg2 = copy.deepcopy(cfg)
    cfg2["locations"].append({"id": "DC-NEW", "region": "east", "type": "dc"})
    cfg2["sources"][0]["authority"].append({"locations": ["DC-NEW"], "buckets": ["on_hand"]})
    path2 = os.path.join(h.tmp, "atpd-with-dc-new.yaml")
    with open(path2, "w") as f:
        f.write(harness.to_yaml(cfg2) + "\n")
    before = src_counters(q)
    f = write(h, "new.csv", "sku,location,qty\nSKU-N,DC-NEW,5\nSKU-1,DC-EAST,77\n")
    r = imp.imp(f, config=path2)
    c.eq(r.rc, 4, "a location only the --config knows: exit (%r)" % (r,))
    after = src_counters(q)
    c.eq(after["rejected_messages"], (before["rejected_messages"] or 0) + 1,
         "atpd's rejected_messages grew by one")
    compare(c, q, model, "after the rejected message (nothing applied)")
    f = write(h, "after-exit4.csv", "sku,location,qty\nSKU-1,DC-WEST,9\n")
    r = imp.imp(f)
    o = check_accepted(c, r, "the import after exit 4", q=q, sets=1)
    c.eq(o.get("seq"), (after["last_seq"] or 0) + 1,
         "the import after exit 4 numbers after the used-up seq")
    model.set("SKU-1", "DC-WEST", "on_hand", 9)
    compare(c, q, model, "after exit 4 and the next import (the rejected file's events gone)")


def part_restart(h, c, imp, d, q, model):
    h.log("kill -9 of atpd between imports (snapshot_interval 1h: it restarts empty)")
    f = write(h, "r1.csv", "sku,location,qty\nSKU-R1,DC-EAST,11\n")
    r = imp.imp(f)
    check_accepted(c, r, "r1.csv", q=q, sets=1)
    model.set("SKU-R1", "DC-EAST", "on_hand", 11)
    q.close()
    d.kill9()
    d.start()
    q = harness.Client(d.query_port, d=d)
    f = write(h, "r2.csv", "sku,location,qty\nSKU-R2,DC-WEST,12\n")
    r = imp.imp(f, timeout="30s")
    # after kill -9 atpd may have lost the last offset it applied (it stores
    # it with its next write): then its last_seq is behind, a snapshot
    check_accepted(c, r, "r2.csv after kill -9", q=q, sent_as=("batch", "snapshot"), sets=1)
    model.set("SKU-R2", "DC-WEST", "on_hand", 12)
    compare(c, q, model, "after kill -9, restart and the next import")

    h.log("kill -9 after a stored snapshot and one more import")
    q.ok({"op": "snapshot"})
    f = write(h, "r3.csv", "sku,location,qty,lot,eta\nSKU-R3,DC-EAST,13,PO-R3,2026-12-31\n")
    r = imp.imp(f, "--csv-columns", INBOUND_COLS)
    check_accepted(c, r, "r3.csv", q=q, lots=1)
    model.lot_add("SKU-R3", "DC-EAST", "PO-R3", 13, ms(2026, 12, 31))
    q.close()
    d.kill9()
    d.start()
    q = harness.Client(d.query_port, d=d)
    f = write(h, "r4.csv", "sku,location,qty\nSKU-R4,DC-EAST,14\n")
    r = imp.imp(f, timeout="30s")
    check_accepted(c, r, "r4.csv after kill -9", q=q, sent_as=("batch", "snapshot"), sets=1)
    model.set("SKU-R4", "DC-EAST", "on_hand", 14)
    compare(c, q, model, "after the second kill -9 and the next import")
    return q


def part_lock(h, c, imp, q, model):
    h.log("a second atp-import on the same --state: exit 2")
    lock = os.path.join(imp.state_dir, SOURCE + ".lock")
    f = write(h, "locked.csv", "sku,location,qty\nSKU-K,DC-EAST,1\n")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        un = Unchanged(q, imp)
        r = imp.imp(f, timeout="5s", timeout_s=60)
        c.eq(r.rc, 2, "the lock held by another process: exit (%r)" % (r,))
        c.check(r.elapsed < 10 * TF, "exit 2 at once, not after a wait (%.1f s)", r.elapsed)
        un.check(c, "the run refused by the lock")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    r = imp.imp(f)
    check_accepted(c, r, "the same file once the lock is free", q=q, sets=1)
    model.set("SKU-K", "DC-EAST", "on_hand", 1)
    compare(c, q, model, "after the lock test")


def part_lost_state(h, c, d, q, model):
    h.log("a lost state directory: a second publisher (exit 3), then source reset")
    imp2 = Importer(h, d.config_path)
    f = write(h, "full.csv", "sku,location,qty\nSKU-1,DC-EAST,500\nSKU-F,DC-WEST,6\n")
    conflicts = (q.sources()[SOURCE].get("conflicts") or 0)
    r = imp2.imp(f, "--snapshot", timeout="3s", timeout_s=60)
    c.eq(r.rc, 3, "a new session while the importer's is live: exit (%r)" % (r,))
    # docs/IMPORT.md: nothing is sent while another session is live, so
    # atpd counts no conflict (which would keep the source `conflict`).
    c.eq(q.sources()[SOURCE].get("conflicts") or 0, conflicts,
         "nothing sent while the other session is live: no conflict counted")
    c.check("another publisher" in r.err, "exit 3 names the other publisher: %r", r)
    compare(c, q, model, "after the conflicting run (nothing applied)")
    d.ctl("source", "reset", SOURCE)
    r = imp2.imp(f, "--snapshot", timeout="30s")
    o = check_accepted(c, r, "the lost-state importer after source reset", sent_as="snapshot",
                       sets=2)
    s = q.sources()[SOURCE]
    c.eq((s.get("last_seq"), s.get("session")), (o.get("seq"), o.get("session")),
         "after source reset: atpd's last_seq and session are the new importer's")
    m = Model()
    m.set("SKU-1", "DC-EAST", "on_hand", 500)
    m.set("SKU-F", "DC-WEST", "on_hand", 6)
    compare(c, q, m, "after source reset: only what the new state knows")


def part_urls(h, c, imp, d, q, model):
    h.log("--endpoint, --control, --query override a config whose addresses are wrong")
    cfg2 = copy.deepcopy(d.cfg)
    dead = harness.free_ports(3)
    for key, port in zip(("ingest_listen", "query_listen", "control_listen"), dead):
        cfg2["service"][key] = "tcp://127.0.0.1:%d" % port
    path2 = os.path.join(h.tmp, "atpd-wrong-ports.yaml")
    with open(path2, "w") as f:
        f.write(harness.to_yaml(cfg2) + "\n")
    f = write(h, "urls.csv", "sku,location,qty\nSKU-U,DC-WEST,31\n")
    svc = d.cfg["service"]
    r = imp.imp(f, "--endpoint", svc["ingest_listen"], "--control", svc["control_listen"],
                "--query=" + svc["query_listen"], config=path2)
    check_accepted(c, r, "--endpoint/--control/--query given", q=q, sets=1)
    model.set("SKU-U", "DC-WEST", "on_hand", 31)
    compare(c, q, model, "after the run with the URLs as options")


def part_token(h, c):
    """A second atpd with auth.tokens: `sources` needs a token with read."""
    h.log("--token and $ATP_TOKEN with an atpd that has auth.tokens")
    token = os.urandom(16).hex()
    salt = os.urandom(16)
    cfg = import_config(h)
    cfg["auth"] = {"tokens": [{"name": "importer", "scopes": ["read"], "salt": salt.hex(),
                               "sha256": hashlib.sha256(salt + token.encode()).hexdigest()}]}
    d = harness.Atpd(h, cfg, "atpd-auth").start()
    q = harness.Client(d.query_port, d=d)
    imp = Importer(h, d.config_path)
    f = write(h, "token.csv", "sku,location,qty\nSKU-T,DC-EAST,41\n")
    r = imp.imp(f, "--token", token)
    o = check_accepted(c, r, "--token with the read scope", sent_as="snapshot")  # a first run
    src = q.ok({"op": "sources", "token": token})["sources"][0]
    c.eq(src.get("last_seq"), o.get("seq"), "--token: atpd's last_seq = the summary's seq")
    e = q.ok({"op": "explain", "sku": "SKU-T", "token": token})
    c.eq([(l.get("location"), l.get("on_hand")) for l in e.get("locations", [])],
         [("DC-EAST", 41)], "--token: explain SKU-T")
    f = write(h, "token-env.csv", "sku,location,qty\nSKU-T,DC-WEST,42\n")
    env = dict(os.environ, ATP_TOKEN=token)
    argv = [imp.bin] + imp.args(f)
    p = subprocess.run(argv, capture_output=True, timeout=60 * TF, env=env,
                       preexec_fn=harness._pdeathsig)
    c.eq(p.returncode, 0, "$ATP_TOKEN: exit (stderr %r)" % p.stderr[-500:])
    e = q.ok({"op": "explain", "sku": "SKU-T", "token": token})
    c.eq(sorted((l.get("location"), l.get("on_hand")) for l in e.get("locations", [])),
         [("DC-EAST", 41), ("DC-WEST", 42)], "$ATP_TOKEN: explain SKU-T")
    f = write(h, "token-none.csv", "sku,location,qty\nSKU-T,DC-WEST,43\n")
    env = {k: v for k, v in os.environ.items() if k != "ATP_TOKEN"}
    p = subprocess.run([imp.bin] + imp.args(f, timeout="3s"), capture_output=True,
                       timeout=60 * TF, env=env, preexec_fn=harness._pdeathsig)
    c.check(p.returncode != 0, "no token where atpd wants one: exit %d, want a failure",
            p.returncode)
    c.check(re.search(r"unauthenticated|token", p.stderr.decode("utf-8", "replace"), re.I),
            "no token: stderr says why (atpd answers unauthenticated): %r", p.stderr[-300:])
    h.log("no token: exit %d, stderr %r", p.returncode, p.stderr.decode()[-300:])
    q.close()
    c.eq(d.stop(), 0, "clean stop of the atpd with tokens")


def part_usage_review(h, c, imp, q):
    """A new user's trial: durations need their unit; --received on a stock
    file is a usage error; a file's duplicate is listed with its other
    problems (docs/IMPORT.md)."""
    h.log("durations need a unit, --received needs an inbound file, all problems listed")
    f = write(h, "u1.csv", "sku,location,qty\nSKU-U,DC-EAST,1\n")
    for opts in (["--transit", "48"], ["--timeout", "5"]):
        r = imp.imp(f, *opts, check=True, timeout=None)
        c.eq(r.rc, 2, "a bare number for %s: exit 2 (%r)" % (opts[0], r))
    r = imp.imp(f, "--received", check=True)
    c.eq(r.rc, 2, "--received with a stock file: exit 2 (%r)" % (r,))
    bad = write(h, "u2.csv", "sku,location,qty\nSKU-U,DC-EAST,9\nSKU-U,DC-EAST,8\n"
                             "SKU-V,DC-MARS,1\nSKU-W,DC-EAST,x\n")
    r = imp.imp(bad, check=True)
    lines = [e.get("line") for e in (r.obj or {}).get("errors", [])]
    c.eq(sorted(lines), [3, 4, 5], "every problem listed in one run: %r" % (r.obj,))
    c.eq(lines, sorted(lines), "in file order")


def part_bytes(h, c):
    """A file within max_events_per_message but above ingest_recv_max_bytes
    (docs/IMPORT.md): sent as a snapshot in parts that each fit, applied
    whole (nng would drop a larger message without a word)."""
    h.log("a file of more bytes than atpd takes in one message (4 KiB here)")
    cfg = import_config(h, ingest_recv_max_bytes=4096)
    d = harness.Atpd(h, cfg, "atpd-bytes").start()
    q = harness.Client(d.query_port, d=d)
    imp = Importer(h, d.config_path)
    n = 200
    skus = ["B%063d" % i for i in range(n)]  # 64-byte SKUs: about 17 KB
    f = write(h, "bytes.csv", "sku,location,qty\n" +
              "".join("%s,DC-EAST,%d\n" % (s, i + 1) for i, s in enumerate(skus)))
    r = imp.imp(f, timeout="30s")
    check_accepted(c, r, "a 17 KB file, 4 KiB messages", q=q, sent_as="snapshot", sets=n)
    for i in (0, n // 2, n - 1):
        e = q.ok({"op": "explain", "sku": skus[i]})
        got = [l for l in e.get("locations", []) if l.get("location") == "DC-EAST"]
        c.check(got and got[0].get("on_hand") == i + 1, "%s on hand %d: %r",
                skus[i][-4:], i + 1, got)
    s = q.sources()[SOURCE]
    c.check((s.get("snapshots_applied") or 0) >= 1 and (s.get("snapshots_aborted") or 0) == 0,
            "applied as one snapshot, no part lost: %r", s)
    q.close()
    c.eq(d.stop(), 0, "clean stop (bytes)")


def main(h):
    c = harness.Checks(h)
    cfg = import_config(h, max_events_per_message=MAX_EVENTS, snapshot_interval="1h")
    d, q = start(h, cfg)
    imp = Importer(h, d.config_path)
    model = Model()
    part_stock(h, c, imp, q, model)
    part_inbound(h, c, imp, q, model)
    part_bad(h, c, imp, q)
    part_snapshot(h, c, imp, q, model)
    part_large(h, c, imp, q, model)
    part_exit4(h, c, imp, q, model, cfg)
    q = part_restart(h, c, imp, d, q, model)
    part_lock(h, c, imp, q, model)
    part_urls(h, c, imp, d, q, model)
    part_lost_state(h, c, d, q, model)
    part_token(h, c)
    part_bytes(h, c)
    part_usage_review(h, c, imp, q)
    q.close()
    c.eq(d.stop(), 0, "clean stop")
    c.done()


if __name__ == "__main__":
    harness.run(main, "import_csv")

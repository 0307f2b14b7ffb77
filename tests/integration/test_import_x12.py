#!/usr/bin/python3
"""test_import_x12.py - atp-import with EDI X12 files, written from
docs/IMPORT.md alone (with docs/PROTOCOL.md for what atpd then shows):

1. The command line: --help/--version, usage errors (exit 2: a bad
   option, no --source, no --state without --check, an unknown source, an
   unreadable config, map or state directory).
2. --check of an 846 with two transaction sets (a header N1 location, a
   per-LIN N1 location, QTY 17 and two qualifiers --qty does not read):
   the events it would send, --qty and --sku-qualifier changing them,
   the same from standard input; nothing sent.
3. The 846 imported: exit 0, the JSON summary's fields, atpd's `sources`
   showing the summary's seq and session, `explain` showing every
   on-hand value at its location, the ATP answer's supply, not stale.
4. An 856 (HL S/O/I/P, N1*ST at the shipment and at an order, DTM*017, one
   SKU twice to one location, an SN1 in a pack below an item): lots with
   lot id = BSN02, the summed qty, the ETA in ms; its cancellation
   (BSN01 01) removes them; an 856 with only DTM*011 is exit 1 without
   --transit and arrives at ship date + --transit with it.
5. Every malformed file (SE count, control numbers of ST/SE, GS/GE,
   ISA/IEA, a line break inside a segment, an 810 set, quantity 12.5 in
   the second set, an unknown location, a position given two values, a
   LIN without a QTY --qty reads, an 856 to a location without inbound
   authority): exit 1, errors with line, segment and reason (human and
   --json forms), and nothing changed in atpd nor in the state directory.
6. The real samples in /work/shared/data/x12 (skipped when absent): the
   EdiEngine 856 and the 00200 one ('!' terminator, two sets) accepted by
   --check, the 004010 one rejected with "line break inside segment N1".
7. Exit 3: atpd stopped, a short --timeout; after atpd is back the next
   import brings atpd to everything the importer holds.

The helpers (config, importer runner, the model of the source's state,
atpd's view of it) are shared by test_import_csv.py and
test_import_model.py.
"""

import calendar
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

TF = harness.TIME_FACTOR
BUCKETS = ("on_hand", "allocated", "held")
SOURCE = "tpl"
REAL_X12 = "/work/shared/data/x12"


# ---------------------------------------------------------------------------
# shared helpers


def ms(y, mo, d, hh=0, mi=0, ss=0):
    """UTC wall clock in ms."""
    return calendar.timegm((y, mo, d, hh, mi, ss, 0, 0, 0)) * 1000


def data_path(h, name):
    return os.path.join(h.source_dir, "tests", "data", "import", name)


def write_key(h, name="tpl.key"):
    path = os.path.join(h.tmp, name)
    with open(path, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return path


def import_config(h, key_file=None, extra_locations=(), **service):
    """east (DC-EAST, STORE-9), west (DC-WEST); source tpl owns on_hand,
    allocated, held and inbound at DC-EAST and DC-WEST, only on_hand at
    STORE-9; heartbeat_timeout 1h (a file source)."""
    svc = {"resync_retry": "200ms"}
    svc.update(service)
    locations = [("DC-EAST", "east"), ("STORE-9", "east"), ("DC-WEST", "west")]
    locations += list(extra_locations)
    src = harness.source_entry(SOURCE, [(["DC-EAST", "DC-WEST"],
                                         ["on_hand", "allocated", "held", "inbound"]),
                                        (["STORE-9"], ["on_hand"])], heartbeat_timeout="1h")
    if key_file:
        src["key_file"] = key_file
    return harness.build_config(h, ["east", "west"], locations, [src], **svc)


def x12_interchange(sets, ctrl=1, sender="GEN", comp=">", term="~", eol="\n", gs_id="IB"):
    """An interchange: sets is [(st_id, [segments without ST/SE])], every
    count and control number right."""
    f = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ", "ATPD".ljust(15),
         "261207", "0600", "U", "00401", "%09d" % ctrl, "0", "P", comp]
    out = ["*".join(f) + term, "GS*%s*%s*ATPD*20261207*0600*%d*X*004010%s" % (gs_id, sender, ctrl, term)]
    for i, (st_id, segs) in enumerate(sets, 1):
        body = ["ST*%s*%04d" % (st_id, i)] + list(segs)
        out += [s + term for s in body]
        out.append("SE*%d*%04d%s" % (len(body) + 1, i, term))
    out.append("GE*%d*%d%s" % (len(sets), ctrl, term))
    out.append("IEA*1*%09d%s" % (ctrl, term))
    return eol.join(out) + eol


class Result:
    def __init__(self, argv, rc, out, err, elapsed):
        self.argv = argv
        self.rc = rc
        self.out = out
        self.err = err
        self.elapsed = elapsed
        self.obj = harness.last_json(out)

    def __repr__(self):
        return ("atp-import %s -> exit %s after %.1f s\n  stdout: %s\n  stderr: %s"
                % (" ".join(self.argv[1:]), self.rc, self.elapsed, self.out.strip()[:1500],
                   self.err.strip()[:1500]))


class Importer:
    """Runs atp-import (bounded) against one config, source and state dir."""

    def __init__(self, h, config_path, source=SOURCE, state_dir=None):
        self.h = h
        self.bin = harness.find_binary(h.bin_dir, "atp-import")
        self.config_path = config_path
        self.source = source
        if state_dir is None:
            state_dir = tempfile.mkdtemp(prefix="state-", dir=h.tmp)
        self.state_dir = state_dir

    def run(self, args, stdin=None, timeout_s=120):
        argv = [self.bin] + [str(a) for a in args]
        t = time.monotonic()
        try:
            p = subprocess.run(argv, input=stdin, capture_output=True,
                               timeout=timeout_s * TF, preexec_fn=harness._pdeathsig)
        except subprocess.TimeoutExpired:
            raise harness.TestFailure("atp-import did not end within %.0f s: %s"
                                      % (timeout_s * TF, " ".join(argv)))
        return Result(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
                      p.stderr.decode("utf-8", "replace"), time.monotonic() - t)

    def args(self, path, opts=(), json_out=True, check=False, state=True, timeout="20s",
             config=None):
        a = ["--config", config or self.config_path, "--source", self.source]
        if state and not check:
            a += ["--state", self.state_dir]
        if check:
            a.append("--check")
        elif timeout:
            a += ["--timeout", timeout]
        if json_out:
            a.append("--json")
        return a + list(opts) + [path]

    def imp(self, path, *opts, json_out=True, check=False, state=True, timeout="20s",
            stdin=None, config=None, timeout_s=120):
        return self.run(self.args(path, opts, json_out, check, state, timeout, config),
                        stdin=stdin, timeout_s=timeout_s)

    def state_files(self):
        """{name: bytes} of the state directory's files."""
        out = {}
        for name in sorted(os.listdir(self.state_dir)):
            p = os.path.join(self.state_dir, name)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    out[name] = f.read()
        return out


class Model:
    """The source's state as docs/IMPORT.md says atpd should have it:
    bucket values and open lots (sku, location, lot) -> (qty, eta_ms)."""

    def __init__(self):
        self.b = {}
        self.lots = {}

    def copy(self):
        m = Model()
        m.b = dict(self.b)
        m.lots = dict(self.lots)
        return m

    def set(self, sku, loc, bucket, v):
        self.b[(sku, loc, bucket)] = v

    def lot_add(self, sku, loc, lot, qty, eta):
        self.lots[(sku, loc, lot)] = (qty, eta)

    def lot_cancel(self, sku, loc, lot):
        self.lots.pop((sku, loc, lot), None)

    def apply_events(self, events):
        for e in events:
            if e[0] == "set":
                self.set(e[1], e[2], e[3], e[4])
            elif e[0] == "lot_add":
                self.lot_add(e[1], e[2], e[3], e[4], e[5])
            elif e[0] == "lot_cancel":
                self.lot_cancel(e[1], e[2], e[3])
            else:
                raise AssertionError(e)

    def view(self):
        return ({k: v for k, v in self.b.items() if v != 0}, dict(self.lots))


def all_skus(q, region="east"):
    skus, cursor = [], 0
    for _ in range(10000):
        r = q.ok({"op": "scan", "region": region, "cursor": cursor, "limit": 1000})
        skus += [it["sku"] for it in r.get("items", [])]
        if r.get("next_cursor") is None:
            return skus
        cursor = r["next_cursor"]
    raise harness.TestFailure("scan does not end")


def atpd_view(q):
    """Every SKU atpd knows (scan), through explain: {(sku, location,
    bucket): value} without zeros, and {(sku, location, lot): (qty, eta_ms)}."""
    buckets, lots = {}, {}
    for sku in all_skus(q):
        e = q.ok({"op": "explain", "sku": sku})
        for l in e.get("locations", []):
            for b in BUCKETS:
                if l.get(b):
                    buckets[(sku, l["location"], b)] = l[b]
        for lot in e.get("lots", []):
            lots[(sku, lot["location"], lot["lot"])] = (lot.get("qty"), lot.get("eta_ms"))
    return buckets, lots


def diff_maps(got, want, limit=8):
    out = []
    for k in sorted(set(got) | set(want), key=repr):
        if got.get(k) != want.get(k):
            out.append("%r: atpd %r, model %r" % (k, got.get(k), want.get(k)))
    if len(out) > limit:
        out = out[:limit] + ["... %d more" % (len(out) - limit)]
    return out


def compare(c, q, model, what):
    """atpd's positions and lots equal the model's; returns True when so."""
    gb, gl = atpd_view(q)
    mb, ml = model.view()
    ok = True
    d = diff_maps(gb, mb)
    ok &= c.check(not d, "%s: bucket values differ from the model: %s", what, "; ".join(d))
    d = diff_maps(gl, ml)
    ok &= c.check(not d, "%s: lots differ from the model: %s", what, "; ".join(d))
    return ok


def src_counters(q):
    s = q.sources().get(SOURCE) or {}
    return {k: s.get(k) for k in ("last_seq", "session", "messages", "events",
                                  "rejected_messages", "snapshots_applied")}


SUMMARY_KEYS = ("ok", "file", "format", "transaction_sets", "records", "sets", "lots",
                "lot_cancels", "ignored", "locations", "source", "session", "seq", "sent_as",
                "applied", "confirm_ms")


def loc_count(v):
    """`locations` of the summary: a count or a list of them."""
    if isinstance(v, list):
        return len(v)
    return v


def check_accepted(c, res, what, q=None, sent_as="batch", fmt=None, **expect):
    """exit 0 and the JSON summary of docs/IMPORT.md; expect: field values
    (locations compared as a count). With q: atpd's `sources` shows the
    summary's seq (and session). Returns the summary (or {})."""
    if not c.check(res.rc == 0, "%s: exit %s, want 0: %r", what, res.rc, res):
        return {}
    o = res.obj
    if not c.check(isinstance(o, dict), "%s: stdout is no JSON line: %r", what, res):
        return {}
    missing = [k for k in SUMMARY_KEYS if k not in o]
    c.check(not missing, "%s: summary lacks %s: %s", what, missing, json.dumps(o))
    c.eq(o.get("ok"), True, what + ": ok")
    c.eq(o.get("applied"), sent_as != "none", what + ": applied")
    if isinstance(sent_as, tuple):  # either is right (see the caller)
        c.check(o.get("sent_as") in sent_as, "%s: sent_as %r, want one of %r",
                what, o.get("sent_as"), sent_as)
    else:
        c.eq(o.get("sent_as"), sent_as, what + ": sent_as")
    c.eq(o.get("source"), SOURCE, what + ": source")
    if fmt:
        c.eq(o.get("format"), fmt, what + ": format")
    for k, v in expect.items():
        got = loc_count(o.get(k)) if k == "locations" else o.get(k)
        c.eq(got, v, "%s: summary %s" % (what, k))
    for k in ("records", "confirm_ms", "seq", "session"):
        if sent_as == "none" and k in ("seq", "session", "confirm_ms"):
            continue
        c.check(isinstance(o.get(k), int) and o.get(k) >= 0, "%s: %s %r is not a count",
                what, k, o.get(k))
    if q is not None and sent_as != "none":
        s = q.sources().get(SOURCE) or {}
        c.eq(s.get("last_seq"), o.get("seq"), what + ": atpd's last_seq = the summary's seq")
        c.eq(s.get("session"), o.get("session"), what + ": atpd's session = the summary's")
        c.eq(s.get("state"), "ok", what + ": source state")
    return o


ERR_X12 = re.compile(r"^(?P<file>.+?):(?P<line>\d+): segment (?P<seg>\d+) "
                     r"\((?P<id>[A-Z0-9]{2,3})\): (?P<reason>.+)$")
ERR_CSV = re.compile(r"^(?P<file>.+?):(?P<line>\d+): column (?P<col>[^:]+): (?P<reason>.+)$")
# A CSV error about a whole row (JSON element 0: "0 when none"): docs/IMPORT.md
# shows no form for it; FILE:LINE: reason is accepted there.
ERR_CSV_ROW = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<reason>.+)$")


def check_rejected_json(c, res, what, path, lines, reason, element=None, segment=None):
    """exit 1 and {"ok": false, "file", "error_count", "errors": [...]};
    some error at one of `lines` whose message matches `reason` (regex);
    element/segment: sets of acceptable values. Returns the matching error."""
    if not c.check(res.rc == 1, "%s: exit %s, want 1: %r", what, res.rc, res):
        return None
    o = res.obj
    if not c.check(isinstance(o, dict) and o.get("ok") is False,
                   "%s: no JSON error line: %r", what, res):
        return None
    c.check(os.path.basename(str(o.get("file"))) == os.path.basename(path),
            "%s: file %r, want %r", what, o.get("file"), path)
    errs = o.get("errors")
    if not c.check(isinstance(errs, list) and errs, "%s: no errors listed: %s", what,
                   json.dumps(o)):
        return None
    c.check(isinstance(o.get("error_count"), int) and o["error_count"] >= len(errs),
            "%s: error_count %r for %d errors", what, o.get("error_count"), len(errs))
    for e in errs:
        missing = [k for k in ("line", "segment", "element", "message") if k not in e]
        c.check(not missing, "%s: an error lacks %s: %r", what, missing, e)
    rx = re.compile(reason, re.I)
    hit = [e for e in errs if e.get("line") in lines and rx.search(str(e.get("message", "")))]
    if not c.check(hit, "%s: no error at line %s matching /%s/: %s", what, sorted(lines),
                   reason, json.dumps(errs)[:1500]):
        return None
    e = hit[0]
    if element is not None:
        c.check(e.get("element") in element, "%s: element %r, want one of %r", what,
                e.get("element"), sorted(element))
    if segment is not None:
        c.check(e.get("segment") in segment, "%s: segment %r, want one of %r", what,
                e.get("segment"), sorted(segment))
    return e


def check_rejected_human(c, res, what, path, lines, reason, ids=None, kind="x12",
                         row_level=False):
    """exit 1; stderr has `FILE:LINE: segment N (ID): reason` (X12) or
    `FILE:LINE: column NAME: reason` (CSV) lines, one of them at `lines`
    matching reason; nothing on stdout that claims success."""
    if not c.check(res.rc == 1, "%s: exit %s, want 1: %r", what, res.rc, res):
        return None
    rxl = ERR_X12 if kind == "x12" else ERR_CSV
    parsed = [rxl.match(l) or (row_level and ERR_CSV_ROW.match(l)) for l in res.err.splitlines()]
    parsed = [m for m in parsed if m]
    if not c.check(parsed, "%s: no stderr line in the form of docs/IMPORT.md (%s): %r",
                   what, rxl.pattern, res.err[:1500]):
        return None
    rx = re.compile(reason, re.I)
    hit = [m for m in parsed if int(m.group("line")) in lines and rx.search(m.group("reason"))
           and os.path.basename(m.group("file")) == os.path.basename(path)]
    if not c.check(hit, "%s: no stderr error at %s:%s matching /%s/: %r", what,
                   os.path.basename(path), sorted(lines), reason, res.err[:1500]):
        return None
    if ids is not None:
        c.check(hit[0].group("id") in ids, "%s: segment id %r, want one of %r", what,
                hit[0].group("id"), sorted(ids))
    c.check("applied" not in res.out, "%s: stdout claims something applied: %r", what, res.out)
    return hit[0]


def line_of(path, marker, nth=1):
    """1-based line number of the nth line containing marker."""
    with open(path, "rb") as f:
        n = 0
        for i, l in enumerate(f.read().decode("utf-8", "replace").split("\n"), 1):
            if marker in l:
                n += 1
                if n == nth:
                    return i
    raise AssertionError("%s not in %s" % (marker, path))


class Unchanged:
    """Records atpd's view, the source's counters and the state directory;
    check() says whether anything changed since."""

    def __init__(self, q, imp):
        self.q = q
        self.imp = imp
        self.view = atpd_view(q)
        self.src = src_counters(q)
        self.files = imp.state_files()

    def check(self, c, what):
        v = atpd_view(self.q)
        d = diff_maps(v[0], self.view[0]) + diff_maps(v[1], self.view[1])
        c.check(not d, "%s: atpd's stock changed: %s", what, "; ".join(d))
        c.eq(src_counters(self.q), self.src, what + ": the source's counters")
        now = self.imp.state_files()
        c.check(now == self.files, "%s: the state directory changed: %s -> %s", what,
                {k: len(v) for k, v in self.files.items()}, {k: len(v) for k, v in now.items()})


def start(h, cfg):
    d = harness.Atpd(h, cfg, "atpd").start()
    q = harness.Client(d.query_port, d=d)
    return d, q


# ---------------------------------------------------------------------------
# the test

STOCK_846 = [("set", "SKU-A", "DC-EAST", "on_hand", 120),
             ("set", "SKU-B", "DC-EAST", "on_hand", 40),
             ("set", "012345678912", "DC-EAST", "on_hand", 7),
             ("set", "SKU-A", "DC-WEST", "on_hand", 30),
             ("set", "SKU-C", "DC-WEST", "on_hand", 12),
             ("set", "SKU-D", "DC-EAST", "on_hand", 9)]
ASN_ETA = ms(2026, 12, 15, 14, 30)
ASN_LOTS = [("lot_add", "SKU-A", "DC-EAST", "ASN-7001", 30, ASN_ETA),
            ("lot_add", "SKU-B", "DC-EAST", "ASN-7001", 10, ASN_ETA),
            ("lot_add", "SKU-C", "DC-WEST", "ASN-7001", 5, ASN_ETA)]


def norm_events(evs):
    return sorted((tuple(e) for e in (evs or [])), key=repr)


def part_usage(h, c, imp, cfg_path):
    h.log("command line: --help, --version, usage errors (exit 2)")
    stock = data_path(h, "stock.846.edi")
    r = imp.run(["--help"])
    c.check(r.rc == 0 and "--snapshot" in r.out + r.err, "--help: %r", r)
    r = imp.run(["--version"])
    c.check(r.rc == 0 and re.search(r"\d+\.\d+", r.out + r.err), "--version: %r", r)
    r = imp.run(["--config", cfg_path, "--source", SOURCE, "--state", imp.state_dir,
                 "--no-such-option", stock])
    c.check(r.rc == 2 and "no-such-option" in r.err, "unknown option: exit 2 naming it: %r", r)
    r = imp.run(["--config", cfg_path, "--state", imp.state_dir, stock])
    c.eq(r.rc, 2, "no --source: exit")
    r = imp.run(["--config", cfg_path, "--source", SOURCE, stock])
    c.eq(r.rc, 2, "no --state (and no --check): exit")
    r = imp.run(["--config", cfg_path, "--source", "nosuch", "--state", imp.state_dir, stock])
    c.check(r.rc == 2 and "nosuch" in r.err, "a source the config lacks: exit 2 naming it: %r", r)
    r = imp.run(["--config", os.path.join(h.tmp, "missing.yaml"), "--source", SOURCE,
                 "--state", imp.state_dir, stock])
    c.eq(r.rc, 2, "an unreadable config: exit")
    r = imp.run(["--config", cfg_path, "--source", SOURCE, "--state", imp.state_dir,
                 "--location-map", os.path.join(h.tmp, "missing.map"), stock])
    c.eq(r.rc, 2, "an unreadable map: exit")
    notdir = os.path.join(h.tmp, "state-is-a-file")
    with open(notdir, "w") as f:
        f.write("x\n")
    r = imp.run(["--config", cfg_path, "--source", SOURCE, "--state", notdir, "--location-map",
                 data_path(h, "tpl.map"), stock])
    c.eq(r.rc, 2, "a state directory that is a file (the file valid): exit")
    c.eq(os.listdir(imp.state_dir), [], "usage errors leave the state directory empty")


def part_check(h, c, imp, q, tmap):
    h.log("--check of the 846: the events, --qty, --sku-qualifier, stdin; nothing sent")
    stock = data_path(h, "stock.846.edi")
    before = src_counters(q)
    r = imp.imp(stock, "--location-map", tmap, check=True)
    o = check_accepted(c, r, "--check 846", sent_as="none", fmt="x12", transaction_sets=2,
                       sets=6, lots=0, lot_cancels=0, ignored=2, locations=2)
    c.eq(norm_events(o.get("events")), norm_events(STOCK_846), "--check 846: events")
    r = imp.imp(stock, "--location-map", tmap, "--qty", "17=on_hand,QH=held", check=True)
    o = check_accepted(c, r, "--check 846 --qty 17=on_hand,QH=held", sent_as="none",
                       sets=7, ignored=1)
    c.eq(norm_events(o.get("events")),
         norm_events(STOCK_846 + [("set", "SKU-A", "DC-WEST", "held", 2)]),
         "--check --qty 17=on_hand,QH=held: events")
    r = imp.imp(stock, "--location-map", tmap, "--sku-qualifier", "VP,SK,UP", check=True)
    o = check_accepted(c, r, "--check --sku-qualifier VP,SK,UP", sent_as="none")
    skus = sorted({e[1] for e in (o.get("events") or [])})
    c.eq(skus, sorted(["SKU-A", "VEND-B", "012345678912", "SKU-C", "SKU-D"]),
         "--sku-qualifier VP,SK,UP: the SKUs (VP before SK)")
    r = imp.imp(stock, "--location-map", tmap, "--sku-qualifier", "UP,SK", check=True)
    o = check_accepted(c, r, "--check --sku-qualifier UP,SK", sent_as="none")
    c.check(("set", "012345678905", "DC-EAST", "on_hand", 120) in norm_events(o.get("events")),
            "--sku-qualifier UP,SK: LIN*1's UP id is the SKU: %r", o.get("events"))
    with open(stock, "rb") as f:
        r = imp.imp("-", "--location-map", tmap, check=True, stdin=f.read())
    o = check_accepted(c, r, "--check from stdin", sent_as="none", sets=6)
    c.eq(norm_events(o.get("events")), norm_events(STOCK_846), "--check from stdin: events")
    # Without the map E01 and W01 are location ids: not in the config.
    r = imp.imp(stock, check=True)
    c.eq(r.rc, 1, "--check without the map (E01 is no location): exit")
    c.eq(src_counters(q), before, "--check sends nothing")
    c.eq(os.listdir(imp.state_dir), [], "--check writes no state")


def part_846(h, c, imp, q, tmap, model):
    h.log("846 imported: summary, sources, explain, ATP")
    stock = data_path(h, "stock.846.edi")
    r = imp.imp(stock, "--location-map", tmap)
    # docs/IMPORT.md: a first run (an empty state) starts with a snapshot
    check_accepted(c, r, "846", q=q, sent_as="snapshot", fmt="x12", transaction_sets=2, sets=6, lots=0,
                   lot_cancels=0, ignored=2, locations=2)
    model.apply_events(STOCK_846)
    compare(c, q, model, "after the 846")
    e = q.ok({"op": "explain", "sku": "SKU-A"})
    locs = {l["location"]: l.get("on_hand") for l in e.get("locations", [])}
    c.eq(locs.get("DC-EAST"), 120, "explain SKU-A: DC-EAST on_hand (header N1)")
    c.eq(locs.get("DC-WEST"), 30, "explain SKU-A: DC-WEST on_hand (the LIN's own N1)")
    c.eq(locs.get("STORE-9"), None, "explain SKU-A: nothing at STORE-9")
    a = q.atp("SKU-A", "east")
    c.eq(a.get("supply"), 120, "atp SKU-A east: supply")
    # "A region turns fresh within one tick" (25 ms) of its source's message.
    try:
        harness.wait_until(lambda: q.atp("SKU-A", "east").get("stale") is False, 5, 0.02,
                           "region east fresh after the import")
    except harness.TestFailure as e:
        c.check(False, "atp SKU-A east: %s", e)
    c.eq(q.atp("SKU-A", "west").get("supply"), 30, "atp SKU-A west: supply")
    c.eq(q.atp("SKU-C", "west").get("supply"), 12, "atp SKU-C west (QTY 12.0)")
    names = sorted(os.listdir(imp.state_dir))
    c.check(SOURCE + ".state" in names and SOURCE + ".lock" in names,
            "the state directory holds %s.state and %s.lock: %r", SOURCE, SOURCE, names)
    # The same file again (human output): same values, next seq.
    seq0 = q.sources()[SOURCE]["last_seq"]
    r = imp.imp(stock, "--location-map", tmap, json_out=False)
    c.eq(r.rc, 0, "846 again (human output): exit")
    c.check(re.search(r"^atp-import: .*stock\.846\.edi: x12 846, 2 transaction sets, \d+ records: "
                      r"6 sets, 0 lots, 0 lot cancels at 2 locations \(\d+ quantities ignored\) "
                      r"-> tpl seq %d \(batch\): applied in \d+ ms$"
                      % (seq0 + 1), r.out.strip(), re.M),
            "846 again: the human summary line of docs/IMPORT.md: %r", r)
    compare(c, q, model, "after the 846 again")


def part_856(h, c, imp, q, tmap, model):
    h.log("856: lots, a cancellation, ship date + --transit")
    asn = data_path(h, "asn.856.edi")
    r = imp.imp(asn, "--location-map", tmap)
    check_accepted(c, r, "856", q=q, fmt="x12", transaction_sets=1, sets=0, lots=3,
                   lot_cancels=0, locations=2)
    model.apply_events(ASN_LOTS)
    compare(c, q, model, "after the 856")
    e = q.ok({"op": "explain", "sku": "SKU-A"})
    lots = [(l.get("lot"), l.get("location"), l.get("qty"), l.get("eta_ms"))
            for l in e.get("lots", [])]
    c.eq(lots, [("ASN-7001", "DC-EAST", 30, ASN_ETA)],
         "explain SKU-A: one lot, BSN02, 24 + 6 summed, ETA DTM*017 2026-12-15 14:30 UTC")
    e = q.ok({"op": "explain", "sku": "SKU-C"})
    c.eq([(l.get("lot"), l.get("location"), l.get("qty")) for l in e.get("lots", [])],
         [("ASN-7001", "DC-WEST", 5)],
         "explain SKU-C: the order's own N1*ST, the pack's SN1 not counted again")

    cancel = data_path(h, "asn-cancel.856.edi")
    r = imp.imp(cancel, "--location-map", tmap)
    check_accepted(c, r, "856 cancellation", q=q, lots=0, lot_cancels=3)
    for ev in ASN_LOTS:
        model.lot_cancel(ev[1], ev[2], ev[3])
    compare(c, q, model, "after the cancellation")

    ship = data_path(h, "asn-shipdate.856.edi")
    un = Unchanged(q, imp)
    r = imp.imp(ship, "--location-map", tmap)
    check_rejected_json(c, r, "856 with DTM*011 only, no --transit", ship,
                        set(range(1, 20)), r"DTM|date|transit|017")
    un.check(c, "856 with DTM*011 only, no --transit")
    r = imp.imp(ship, "--location-map", tmap, "--transit", "36h")
    check_accepted(c, r, "856 DTM*011 --transit 36h", q=q, lots=1)
    model.lot_add("SKU-E", "DC-EAST", "ASN-7002", 8, ms(2026, 12, 7, 8, 0) + 36 * 3600 * 1000)
    compare(c, q, model, "after the 856 with --transit 36h")
    r = imp.imp(ship, "--location-map", tmap, "--transit=2d", check=True)
    o = check_accepted(c, r, "--check 856 --transit=2d", sent_as="none")
    c.eq(norm_events(o.get("events")),
         [("lot_add", "SKU-E", "DC-EAST", "ASN-7002", 8, ms(2026, 12, 9, 8, 0))],
         "--transit 2d: the ETA")

    # One location named two ways (the map's code at the shipment, the id
    # itself at an item): still one location, so the SKU's two items add up.
    two = data_path(h, "asn-two-names.856.edi")
    r = imp.imp(two, "--location-map", tmap, check=True)
    o = check_accepted(c, r, "--check 856, DC-EAST as E01 and as DC-EAST", sent_as="none")
    c.eq(norm_events(o.get("events")),
         [("lot_add", "SKU-G", "DC-EAST", "ASN-7010", 42, ms(2026, 12, 20))],
         "856 with E01 (mapped) and DC-EAST (the id) for one SKU: one lot, 11 + 31")
    # The same with --location for the first item and an order's N1*ST for the second.
    two = data_path(h, "asn-fallback.856.edi")
    r = imp.imp(two, "--location-map", tmap, "--location", "DC-EAST", check=True)
    o = check_accepted(c, r, "--check 856, DC-EAST by --location and by N1*ST E01",
                       sent_as="none")
    c.eq(norm_events(o.get("events")),
         [("lot_add", "SKU-G", "DC-EAST", "ASN-7011", 42, ms(2026, 12, 20))],
         "856 with --location DC-EAST and N1*ST E01 for one SKU: one lot, 11 + 31")


def malformed_cases(h):
    """(file, acceptable lines, acceptable segment ids, reason regex, element)."""
    p = lambda n: data_path(h, n)  # noqa: E731
    cases = []
    f = p("bad-se-count.846.edi")
    cases.append((f, {line_of(f, "SE*9*0001")}, {"SE"}, r"count|segments|SE01", None))
    f = p("bad-control-st.846.edi")
    cases.append((f, {line_of(f, "ST*846*0001"), line_of(f, "SE*8*0002")}, {"ST", "SE"},
                  r"control", None))
    f = p("bad-control-gs.846.edi")
    cases.append((f, {line_of(f, "GS*IB"), line_of(f, "GE*1*1021")}, {"GS", "GE"},
                  r"control", None))
    f = p("bad-control-isa.846.edi")
    cases.append((f, {1, line_of(f, "IEA*1*000000103")}, {"ISA", "IEA"}, r"control", None))
    f = p("line-break.846.edi")
    n1 = line_of(f, "N1*WH*3PL")
    cases.append((f, {n1, n1 + 1}, {"N1"}, r"line break inside segment N1", None))
    f = p("set-810.edi")
    cases.append((f, {line_of(f, "ST*810")}, {"ST"}, r"810", None))
    f = p("bad-qty.846.edi")
    cases.append((f, {line_of(f, "QTY*17*12.5")}, {"QTY"}, r"12\.5|integer|quantity", {2}))
    f = p("unknown-location.846.edi")
    cases.append((f, {line_of(f, "ZZZ")}, {"N1"}, r"ZZZ|location", None))
    f = p("dup-conflict.846.edi")
    cases.append((f, {line_of(f, "QTY*17*999"), line_of(f, "QTY*17*998")}, {"QTY", "LIN"},
                  r"SKU-A|twice|duplicate|999|998|already", None))
    f = p("lin-no-qty.846.edi")
    cases.append((f, {line_of(f, "LIN*3*SK*SKU-F"), line_of(f, "QTY*33*5"),
                      line_of(f, "QTY*33*5") + 1}, {"LIN", "QTY", "SE"}, r"QTY|quantit", None))
    f = p("no-inbound-authority.856.edi")
    cases.append((f, set(range(line_of(f, "ST*856"), line_of(f, "SE*9*0002") + 1)),
                  {"N1", "LIN", "SN1", "HL"}, r"STORE-9|inbound|authority", None))
    return cases


def part_malformed(h, c, imp, q, tmap):
    h.log("malformed X12: exit 1, errors with position and reason, nothing changed")
    for path, lines, ids, reason, element in malformed_cases(h):
        name = os.path.basename(path)
        un = Unchanged(q, imp)
        r = imp.imp(path, "--location-map", tmap)
        check_rejected_json(c, r, name + " --json", path, lines, reason, element=element)
        r = imp.imp(path, "--location-map", tmap, json_out=False)
        check_rejected_human(c, r, name, path, lines, reason, ids=ids)
        r = imp.imp(path, "--location-map", tmap, check=True)
        c.eq(r.rc, 1, name + " --check: exit")
        un.check(c, name)


def part_real(h, c, imp, q, tmap, model):
    if not os.path.isdir(REAL_X12):
        h.log("%s absent: the real samples are not checked", REAL_X12)
        return
    h.log("the real samples in %s", REAL_X12)
    before = src_counters(q)
    ok = os.path.join(REAL_X12, "856_EdiEngine_Crossdock_OK.edi")
    eta = ms(2009, 9, 25)
    want = [("lot_add", "0000000000642", "DC-EAST", "000009", 24, eta),
            ("lot_add", "0000000000831", "DC-EAST", "000009", 12, eta),
            ("lot_add", "0000000000283", "DC-EAST", "000009", 12, eta),
            ("lot_add", "0000000000203", "DC-EAST", "000009", 12, eta)]
    r = imp.imp(ok, "--location-map", tmap, check=True)
    o = check_accepted(c, r, "--check EdiEngine 856 (map 0001 -> DC-EAST)", sent_as="none",
                       fmt="x12", transaction_sets=1, lots=4)
    c.eq(norm_events(o.get("events")), norm_events(want), "EdiEngine 856: events")
    r = imp.imp(ok, "--location", "DC-EAST", check=True)
    c.eq(r.rc, 1, "EdiEngine 856 with --location only (its N1*ST 0001 is no location): exit")
    old = os.path.join(REAL_X12, "856_stupidedi_002001_SH856_fail_1.edi")
    eta = ms(2007, 1, 1, 11, 30) + 2 * 86400 * 1000
    want = [("lot_add", "7389141G01", "DC-EAST", "35100", 1000, eta),
            ("lot_add", "6500012G00", "DC-EAST", "35100", 176, eta),
            ("lot_add", "7340912G00", "DC-EAST", "35100", 100, eta),
            ("lot_add", "7450013G00", "DC-EAST", "35100", 156, eta),
            ("lot_add", "3104982G00", "DC-EAST", "02", 234, eta),
            ("lot_add", "8930212G01", "DC-EAST", "02", 25, eta)]
    r = imp.imp(old, "--location", "DC-EAST", "--transit", "2d", check=True)
    o = check_accepted(c, r, "--check 00200 856 --location DC-EAST --transit 2d",
                       sent_as="none", fmt="x12", transaction_sets=2, lots=6)
    c.eq(norm_events(o.get("events")), norm_events(want), "00200 856: events")
    r = imp.imp(old, "--location", "DC-EAST", check=True)
    c.eq(r.rc, 1, "00200 856 without --transit (DTM*011 only): exit")
    bad = os.path.join(REAL_X12, "856_stupidedi_004010_SH856_fail_2.edi")
    n1 = line_of(bad, "N1*SU")
    r = imp.imp(bad, "--location", "DC-EAST", "--transit", "2d", check=True)
    check_rejected_json(c, r, "004010 fail_2 --check", bad, {n1, n1 + 1},
                        r"line break inside segment N1")
    r = imp.imp(bad, "--location", "DC-EAST", "--transit", "2d", check=True, json_out=False)
    check_rejected_human(c, r, "004010 fail_2 --check (human)", bad, {n1, n1 + 1},
                         r"line break inside segment N1", ids={"N1"})
    c.eq(src_counters(q), before, "--check of the real samples sends nothing")
    # The EdiEngine sample for real.
    r = imp.imp(ok, "--location-map", tmap)
    check_accepted(c, r, "EdiEngine 856 imported", q=q, lots=4)
    model.apply_events([("lot_add", "0000000000642", "DC-EAST", "000009", 24, ms(2009, 9, 25)),
                        ("lot_add", "0000000000831", "DC-EAST", "000009", 12, ms(2009, 9, 25)),
                        ("lot_add", "0000000000283", "DC-EAST", "000009", 12, ms(2009, 9, 25)),
                        ("lot_add", "0000000000203", "DC-EAST", "000009", 12, ms(2009, 9, 25))])
    compare(c, q, model, "after the EdiEngine 856")


def write_tmp(h, name, text):
    path = os.path.join(h.tmp, name)
    with open(path, "w", newline="") as f:
        f.write(text)
    return path


def part_rules(h, c, imp, tmap):
    """What "X12: what is read" says, one rule a file, all with --check."""
    h.log("X12 rules: bounds, dates, envelope, BIA, a mixed interchange, --format, prefixes")
    hdr = ["BIA*00*MM*R*20261207", "N1*WH*E*92*E01"]

    def f846(name, body, **kw):
        return write_tmp(h, name, x12_interchange([("846", hdr + body)], **kw))

    def f856(name, body, purpose="00"):
        return write_tmp(h, name, x12_interchange([("856", [
            "BSN*%s*ASN-R1*20261207*1200" % purpose, "HL*1**S", "N1*ST*E*92*E01"] + body)],
            gs_id="SH"))

    def check(path, what, *opts):
        r = imp.imp(path, "--location-map", tmap, *opts, check=True)
        o = check_accepted(c, r, what, sent_as="none")
        return norm_events(o.get("events"))

    def rejected(path, what, lines, reason, *opts):
        r = imp.imp(path, "--location-map", tmap, *opts, check=True)
        check_rejected_json(c, r, what, path, lines, reason)

    p = f846("neg.846.edi", ["LIN*1*SK*SKU-N", "QTY*17*-5*EA"])
    c.eq(check(p, "846 QTY -5"), [("set", "SKU-N", "DC-EAST", "on_hand", -5)],
         "846 QTY -5 (a set takes any value within +-10^15)")
    p = f846("max.846.edi", ["LIN*1*SK*SKU-N", "QTY*17*1000000000000000*EA"])
    c.eq(check(p, "846 QTY 10^15"), [("set", "SKU-N", "DC-EAST", "on_hand", 10 ** 15)],
         "846 QTY 10^15")
    p = f846("over.846.edi", ["LIN*1*SK*SKU-N", "QTY*17*1000000000000001*EA"])
    rejected(p, "846 QTY 10^15 + 1", {line_of(p, "QTY*17")}, r"10\^15|range|quantit|1000000000000001")
    p = f856("neg.856.edi", ["DTM*017*20261220", "HL*2*1*I", "LIN**SK*SKU-N", "SN1**-3*EA"])
    rejected(p, "856 SN1 -3", {line_of(p, "SN1*")}, r"-3|negative|quantit|>= ?0|0\.\.")
    p = f856("baddate.856.edi", ["DTM*017*20261340", "HL*2*1*I", "LIN**SK*SKU-N", "SN1**3*EA"])
    rejected(p, "856 DTM*017 2026-13-40", {line_of(p, "DTM*017")}, r"date|20261340")
    p = f856("hhmmss.856.edi", ["DTM*017*20261220*101530", "HL*2*1*I", "LIN**SK*SKU-N",
                                "SN1**3*EA"])
    c.eq(check(p, "856 DTM*017 with HHMMSS"),
         [("lot_add", "SKU-N", "DC-EAST", "ASN-R1", 3, ms(2026, 12, 20, 10, 15, 30))],
         "856 DTM*017 20261220 101530: the ETA")
    p = f856("yymmdd49.856.edi", ["DTM*017*491231", "HL*2*1*I", "LIN**SK*SKU-N", "SN1**3*EA"])
    c.eq(check(p, "856 DTM*017 491231"),
         [("lot_add", "SKU-N", "DC-EAST", "ASN-R1", 3, ms(2049, 12, 31))],
         "YYMMDD 49 is 2049")
    p = f856("yymmdd99.856.edi", ["DTM*017*990101*0830", "HL*2*1*I", "LIN**SK*SKU-N",
                                  "SN1**3*EA"])
    c.eq(check(p, "856 DTM*017 990101"),
         [("lot_add", "SKU-N", "DC-EAST", "ASN-R1", 3, ms(1999, 1, 1, 8, 30))],
         "YYMMDD 99 is 1999")
    p = f856("delete.856.edi", ["DTM*017*20261220", "HL*2*1*I", "LIN**SK*SKU-N", "SN1**3*EA"],
             purpose="03")
    c.eq(check(p, "856 BSN01 03"), [("lot_cancel", "SKU-N", "DC-EAST", "ASN-R1")],
         "856 BSN01 03 (delete): lot cancel events")
    good = f846("lower.846.edi", ["LIN*1*SK*SKU-N", "QTY*17*5*EA"])
    with open(good) as f:
        text = f.read()
    p = write_tmp(h, "lowercase.846.edi", text.replace("LIN*1*SK", "lin*1*SK"))
    rejected(p, "a segment id in lower case", {line_of(p, "lin*1")}, r"segment|id|lin")
    p = write_tmp(h, "after-iea.846.edi", text + "XYZ*1~\n")
    rejected(p, "a segment after IEA", {line_of(p, "XYZ")}, r"IEA|after|XYZ|trailing")
    p = write_tmp(h, "ge-count.846.edi", text.replace("GE*1*", "GE*2*"))
    rejected(p, "GE01 2 for one set", {line_of(p, "GE*2")}, r"count|sets|GE01")
    p = write_tmp(h, "iea-count.846.edi", text.replace("IEA*1*", "IEA*2*"))
    rejected(p, "IEA01 2 for one group", {line_of(p, "IEA*2")}, r"count|group|IEA01")
    p = write_tmp(h, "no-bia.846.edi", x12_interchange([("846", [
        "N1*WH*E*92*E01", "LIN*1*SK*SKU-N", "QTY*17*5*EA"])]))
    rejected(p, "846 without BIA", set(range(3, 7)), r"BIA")
    # N101: WH, ST and SN name locations; SU (a supplier) is no location.
    p = write_tmp(h, "parties.846.edi", x12_interchange([("846", [
        "BIA*00*MM*P*20261207", "N1*WH*E*92*E01", "N1*SU*ACME SUPPLY*92*SUP-77",
        "LIN*1*SK*SKU-P1", "QTY*17*1*EA",
        "LIN*2*SK*SKU-P2", "N1*ST*W*92*W01", "N1*SU*ACME*92*SUP-77", "QTY*17*2*EA",
        "LIN*3*SK*SKU-P3", "N1*SN*S*92*DC-WEST", "QTY*17*3*EA"])]))
    c.eq(check(p, "846 with N1*SU parties"),
         norm_events([("set", "SKU-P1", "DC-EAST", "on_hand", 1),
                      ("set", "SKU-P2", "DC-WEST", "on_hand", 2),
                      ("set", "SKU-P3", "DC-WEST", "on_hand", 3)]),
         "846: N1*WH/ST/SN are locations, N1*SU is not")
    mixed = write_tmp(h, "mixed.edi", x12_interchange([
        ("846", hdr + ["LIN*1*SK*SKU-N", "QTY*17*5*EA"]),
        ("856", ["BSN*00*ASN-R2*20261207*1200", "HL*1**S", "DTM*017*20261221",
                 "N1*ST*W*92*W01", "HL*2*1*I", "LIN**SK*SKU-N", "SN1**4*EA"])]))
    c.eq(check(mixed, "an interchange with an 846 and an 856"),
         norm_events([("set", "SKU-N", "DC-EAST", "on_hand", 5),
                      ("lot_add", "SKU-N", "DC-WEST", "ASN-R2", 4, ms(2026, 12, 21))]),
         "an interchange mixing 846 and 856: both read")
    r = imp.imp(data_path(h, "stock.csv"), "--format", "x12", check=True)
    c.eq(r.rc, 1, "--format x12 on a CSV: exit")
    r = imp.imp(data_path(h, "stock.csv"), "--format", "csv", check=True)
    check_accepted(c, r, "--format csv on a CSV", sent_as="none", fmt="csv", sets=4)
    r = imp.imp(good, "--format", "csv", check=True)
    c.eq(r.rc, 1, "--format csv on an X12 file (no sku column): exit")
    r = imp.imp(data_path(h, "stock.846.edi"), "--location-map", tmap, "--sku-q", "VP,SK,UP",
                check=True)
    o = check_accepted(c, r, "a unique prefix --sku-q", sent_as="none")
    c.check("VEND-B" in {e[1] for e in (o.get("events") or [])},
            "--sku-q VP,SK,UP acts as --sku-qualifier: %r", o.get("events"))
    r = imp.imp(data_path(h, "stock.846.edi"), "--loc", "DC-EAST", check=True)
    c.eq(r.rc, 2, "--loc: an ambiguous prefix (--location, --location-map): exit")


def part_key_file(h, c, imp, d, q, tmap, model):
    h.log("--key-file: the right key from the option; a wrong one is never confirmed")
    cfg2 = dict(d.cfg)
    cfg2["sources"] = [dict(x) for x in d.cfg["sources"]]
    key = cfg2["sources"][0].pop("key_file")
    nokey = os.path.join(h.tmp, "atpd-no-key.yaml")
    with open(nokey, "w") as f:
        f.write(harness.to_yaml(cfg2) + "\n")
    f1 = write_tmp(h, "k1.846.edi", x12_interchange([("846", [
        "BIA*00*MM*K1*20261207", "N1*WH*E*92*E01", "LIN*1*SK*SKU-K", "QTY*17*21*EA"])]))
    r = imp.imp(f1, "--location-map", tmap, "--key-file", key, config=nokey)
    check_accepted(c, r, "--key-file with a config that names no key", q=q, sets=1)
    model.set("SKU-K", "DC-EAST", "on_hand", 21)
    compare(c, q, model, "after --key-file")
    wrong = write_key(h, "wrong.key")
    bad_mac = q.sources()[SOURCE].get("bad_mac") or 0
    before = atpd_view(q)
    f2 = write_tmp(h, "k2.846.edi", x12_interchange([("846", [
        "BIA*00*MM*K2*20261207", "N1*WH*E*92*E01", "LIN*1*SK*SKU-K", "QTY*17*22*EA"])]))
    r = imp.imp(f2, "--location-map", tmap, "--key-file", wrong, timeout="3s", timeout_s=60)
    c.eq(r.rc, 3, "a wrong --key-file: atpd drops the message (bad_mac), exit (%r)" % (r,))
    c.check((q.sources()[SOURCE].get("bad_mac") or 0) > bad_mac, "atpd counted bad_mac")
    after = atpd_view(q)
    c.check(after == before, "a message with a wrong MAC changed atpd: %s",
            diff_maps(after[0], before[0]) + diff_maps(after[1], before[1]))
    # exit 3: "the next run resends what atpd lacks" -- the state holds it
    model.set("SKU-K", "DC-EAST", "on_hand", 22)
    f3 = write_tmp(h, "k3.846.edi", x12_interchange([("846", [
        "BIA*00*MM*K3*20261207", "N1*WH*W*92*W01", "LIN*1*SK*SKU-K", "QTY*17*23*EA"])]))
    r = imp.imp(f3, "--location-map", tmap, timeout="30s")
    # docs/IMPORT.md: atpd's last_seq is behind the state's: a snapshot
    check_accepted(c, r, "the run after the wrong key", q=q, sent_as="snapshot", sets=1)
    model.set("SKU-K", "DC-WEST", "on_hand", 23)
    compare(c, q, model, "after the run that followed the wrong key")


def part_unreachable(h, c, imp, d, q, tmap, model):
    h.log("exit 3: atpd stopped; the same file again once it is back, then the next one")
    q.close()
    c.eq(d.stop(), 0, "clean stop")
    f1 = os.path.join(h.tmp, "z1.846.edi")
    with open(f1, "w") as f:
        f.write(x12_interchange([("846", ["BIA*00*MM*Z1*20261207", "N1*WH*E*92*E01",
                                          "LIN*1*SK*SKU-Z", "QTY*17*5*EA"])], ctrl=301))
    r = imp.imp(f1, "--location-map", tmap, timeout="2s", timeout_s=60)
    c.eq(r.rc, 3, "atpd not running, --timeout 2s: exit")
    c.check(r.elapsed < 2 + 15 * TF, "exit 3 within its --timeout (took %.1f s)", r.elapsed)
    c.check("cannot connect" in r.err, "exit 3 says it could not reach atpd: %r", r)
    d.start()
    q = harness.Client(d.query_port, d=d)
    # docs/IMPORT.md, exit 3: "run the same file again"
    r = imp.imp(f1, "--location-map", tmap, timeout="30s")
    check_accepted(c, r, "the same file again once atpd is back", q=q, sets=1)
    model.set("SKU-Z", "DC-EAST", "on_hand", 5)
    f2 = os.path.join(h.tmp, "z2.846.edi")
    with open(f2, "w") as f:
        f.write(x12_interchange([("846", ["BIA*00*MM*Z2*20261207", "N1*WH*W*92*W01",
                                          "LIN*1*SK*SKU-Y", "QTY*17*6*EA"])], ctrl=302))
    r = imp.imp(f2, "--location-map", tmap, timeout="30s")
    check_accepted(c, r, "the import after atpd is back", q=q, sets=1)
    model.set("SKU-Y", "DC-WEST", "on_hand", 6)
    compare(c, q, model, "after atpd came back")
    return q


def main(h):
    c = harness.Checks(h)
    key = write_key(h)
    cfg = import_config(h, key_file=key)
    d, q = start(h, cfg)
    imp = Importer(h, d.config_path)
    tmap = data_path(h, "tpl.map")
    model = Model()
    part_usage(h, c, imp, d.config_path)
    part_check(h, c, imp, q, tmap)
    part_846(h, c, imp, q, tmap, model)
    part_856(h, c, imp, q, tmap, model)
    part_malformed(h, c, imp, q, tmap)
    part_real(h, c, imp, q, tmap, model)
    part_rules(h, c, imp, tmap)
    part_key_file(h, c, imp, d, q, tmap, model)
    q = part_unreachable(h, c, imp, d, q, tmap, model)
    s = q.sources()[SOURCE]
    c.eq(s.get("rejected_messages"), 0, "atpd rejected nothing the importer sent")
    q.close()
    c.eq(d.stop(), 0, "clean stop")
    c.done()


if __name__ == "__main__":
    harness.run(main, "import_x12")

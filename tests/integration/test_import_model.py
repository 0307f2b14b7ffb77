#!/usr/bin/python3
"""test_import_model.py - a seeded random sequence of ~30 atp-import runs
checked against an independent model of what the files mean
(docs/IMPORT.md; docs/PROTOCOL.md for lots and snapshots).

The files are generated here from a structure the model reads directly:
X12 846s (one or two sets, header and per-LIN N1 locations through the
location map or as ids, QTY 17 and QH that --qty may or may not read,
a LIN repeated with the same value), X12 856s (S/O/I/P levels, N1*ST at
shipment, order or item level or --location, DTM*017 at shipment or order
level or DTM*011 + --transit, a SKU twice to one location summed, an SN1
in a pack below an item), their cancellations (BSN01 01 or 03) and
re-sends with new quantities, stock and inbound CSVs (delimiters, header
names or numbers, --no-header, a bucket column or --bucket, quoting,
CRLF, BOM, blank lines, every eta form), --snapshot of each kind, files
larger than max_events_per_message (50), and bad files (a wrong SE count,
a fractional quantity, an unknown location, a line break inside a
segment, an 856 with a ship date and no --transit; a CSV row missing a
field, a qty that is no number, a bad eta) that must change nothing.
The separators of each X12 file are chosen at random ('*' or '|', '~'
or '!' or a line feed as terminator, with LF, CRLF or nothing after it).

After every run: the exit status, the summary's seq against atpd's
`sources`, and every (sku, location, bucket) value and every lot (qty,
ETA) atpd shows (scan + explain) against the model. In the middle atpd is
killed (kill -9) and restarted; the next run must bring it to the model.

ATP_TEST_SEED=N repeats a run (the seed is printed).
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_import_x12 import (SOURCE, Importer, Model, compare, data_path,  # noqa: E402
                             import_config, ms, start, write_key)

MAX_EVENTS = 50
SKUS = ["M-%02d" % i for i in range(14)]
LOCS = ["DC-EAST", "DC-WEST"]
CODES = {"DC-EAST": ["E01", "DC-EAST"], "DC-WEST": ["W01", "DC-WEST"]}  # tpl.map
# (element separator, component separator, segment terminator, what follows it)
STYLES = [("*", ">", "~", "\n"), ("*", ":", "~", "\r\n"), ("*", "^", "~", ""),
          ("*", ">", "\n", ""), ("|", "^", "!", "\n"), ("*", "@", "!", "\n")]
TRANSIT = {"36h": 36 * 3600 * 1000, "2d": 2 * 86400 * 1000, "12h": 12 * 3600 * 1000}
BASE = ms(2026, 12, 8)
N_OPS = 32


class File:
    """One generated file: path, options, expected events, kind (stock or
    inbound), snapshot, bad (must be rejected), what (for messages)."""

    def __init__(self, path, opts, events, kind, what, snapshot=False, bad=False, sid=None):
        self.sid = sid
        self.path = path
        self.opts = list(opts)
        self.events = events
        self.kind = kind
        self.what = what
        self.snapshot = snapshot
        self.bad = bad


def gm(t_ms):
    return time.gmtime(t_ms // 1000)


class Gen:
    def __init__(self, rng, tmp, tmap):
        self.rng = rng
        self.tmp = tmp
        self.tmap = tmap
        self.n = 0
        self.ship_n = 0
        self.shipments = {}   # id -> {"segs": ..., "opts": ..., "lots": {...}, "open": bool}

    def path(self, ext):
        self.n += 1
        return os.path.join(self.tmp, "gen-%02d.%s" % (self.n, ext))

    # ---- X12 text

    def x12_text(self, sets, style, se_delta=0):
        elem, comp, term, eol = style
        ctrl = 500 + self.n
        isa = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "GEN".ljust(15), "ZZ",
               "ATPD".ljust(15), "261207", "0600", "U", "00401", "%09d" % ctrl, "0", "P", comp]
        segs = [isa, ["GS", "IB", "GEN", "ATPD", "20261207", "0600", str(ctrl), "X", "004010"]]
        for i, (st, body) in enumerate(sets, 1):
            segs.append(["ST", st, "%04d" % i])
            segs += [list(s) for s in body]
            segs.append(["SE", str(len(body) + 2 + (se_delta if i == len(sets) else 0)),
                         "%04d" % i])
        segs.append(["GE", str(len(sets)), str(ctrl)])
        segs.append(["IEA", "1", "%09d" % ctrl])
        return "".join(elem.join(s) + term + eol for s in segs)

    def code(self, loc):
        return self.rng.choice(CODES[loc])

    def date_els(self, t_ms):
        """DTM02 (CCYYMMDD or YYMMDD) and DTM03 (none, HHMM or HHMMSS), and
        the ms they mean."""
        g = gm(t_ms)
        r = self.rng.random()
        d = time.strftime("%Y%m%d", g) if r < 0.7 else time.strftime("%y%m%d", g)
        r = self.rng.random()
        if r < 0.3:
            return [d], ms(g.tm_year, g.tm_mon, g.tm_mday)
        if r < 0.8:
            return [d, "%02d%02d" % (g.tm_hour, g.tm_min)], ms(g.tm_year, g.tm_mon, g.tm_mday,
                                                               g.tm_hour, g.tm_min)
        return [d, "%02d%02d%02d" % (g.tm_hour, g.tm_min, g.tm_sec)], \
            ms(g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec)

    def rand_time(self):
        return BASE + self.rng.randrange(0, 80 * 86400) * 1000

    # ---- 846

    def f846(self, snapshot=False, large=False, corrupt=None):
        rng = self.rng
        style = rng.choice(STYLES)
        opts = ["--location-map", self.tmap]
        read_qh = rng.random() < 0.5
        if read_qh:
            opts += ["--qty", "17=on_hand,QH=held"]
        fallback = None
        if rng.random() < 0.5:
            fallback = rng.choice(LOCS)
            opts += ["--location", fallback]
        events, used = [], {}
        sets = []
        n_sets = 1 if large else rng.choice([1, 2])
        skus = ["L-%03d" % i for i in range(rng.randrange(MAX_EVENTS + 5, MAX_EVENTS + 15))] \
            if large else SKUS
        for _ in range(n_sets):
            body = [["BIA", "00", "MM", "INV-%d" % self.n, "20261207"]]
            header = rng.choice(LOCS) if (large or fallback is None or rng.random() < 0.7) else None
            if header:
                body.append(["N1", "WH", "WAREHOUSE", "92", self.code(header)])
            loops = list(skus) if large else [rng.choice(skus) for _ in range(rng.randrange(1, 6))]
            for k, sku in enumerate(loops, 1):
                loc = header or fallback
                lin_n1 = None
                if not large and rng.random() < 0.3:
                    loc = lin_n1 = rng.choice(LOCS)
                if (sku, loc, "on_hand") in used:
                    continue
                qty = rng.randrange(0, 500)
                qtxt = str(qty) if rng.random() < 0.8 else "%d.0" % qty
                lin = ["LIN", str(k), "SK", sku]
                if rng.random() < 0.2:
                    lin = ["LIN", str(k), "VP", "V" + sku, "SK", sku]
                elif rng.random() < 0.2:
                    lin = ["LIN", "", "UP", "0%011d" % k, "SK", sku]
                body.append(lin)
                if lin_n1:
                    body.append(["N1", "WH", "OTHER", "92", self.code(lin_n1)])
                body.append(["QTY", "17", qtxt, "EA"])
                used[(sku, loc, "on_hand")] = qty
                events.append(("set", sku, loc, "on_hand", qty))
                if not large and rng.random() < 0.3 and (sku, loc, "held") not in used:
                    hq = rng.randrange(0, 20)
                    body.append(["QTY", "QH", str(hq), "EA"])
                    if read_qh:
                        used[(sku, loc, "held")] = hq
                        events.append(("set", sku, loc, "held", hq))
                if not large and rng.random() < 0.1:
                    # the same position, the same value, again: one event
                    body += [["LIN", str(k), "SK", sku], ["N1", "WH", "AGAIN", "92", self.code(loc)],
                             ["QTY", "17", str(qty), "EA"]]
            if len(body) <= 2:
                sku = rng.choice([s for s in SKUS if (s, "DC-WEST", "on_hand") not in used])
                body += [["LIN", "1", "SK", sku], ["N1", "WH", "W", "92", "W01"],
                         ["QTY", "17", "5", "EA"]]
                used[(sku, "DC-WEST", "on_hand")] = 5
                events.append(("set", sku, "DC-WEST", "on_hand", 5))
            body.append(["CTT", str(len(loops))])
            sets.append(("846", body))
        se_delta = 0
        bad = corrupt is not None
        if corrupt == "se":
            se_delta = 1
        elif corrupt == "qty":
            body = sets[-1][1]
            q = [s for s in body if s[0] == "QTY" and s[1] == "17"][-1]
            q[2] = "%d.5" % rng.randrange(0, 50)
        elif corrupt == "location":
            # a LIN loop whose own N1 names a code neither mapped nor configured
            sets[-1][1][-1:-1] = [["LIN", "99", "SK", "M-00"], ["N1", "WH", "NOWHERE", "92", "QQQ"],
                                  ["QTY", "17", "1", "EA"]]
        text = self.x12_text(sets, style, se_delta)
        if corrupt == "linebreak":
            if style[2] == "\n":
                style = STYLES[0]
                text = self.x12_text(sets, style)
            i = text.index("BIA" + style[0]) + 4
            text = text[:i] + "\n" + text[i:]
        p = self.path("846.edi")
        with open(p, "w", newline="") as f:
            f.write(text)
        kind = "846 large" if large else "846"
        return File(p, opts, events, "stock", "%s%s%s (%s)" % (
            kind, " --snapshot" if snapshot else "", " bad:" + corrupt if bad else "",
            os.path.basename(p)), snapshot=snapshot, bad=bad)

    # ---- 856

    def new_shipment(self):
        """A shipment's structure: items with their location and ETA, the
        segments and the options to read them."""
        rng = self.rng
        for _ in range(100):
            self.ship_n += 1
            sid = "SHP-%04d" % self.ship_n
            opts = ["--location-map", self.tmap]
            fallback = rng.choice(LOCS)
            use_fallback = rng.random() < 0.2
            if use_fallback:
                opts += ["--location", fallback]
            ship_to = None if use_fallback else rng.choice(LOCS)
            segs = [["BSN", "00", sid, "20261207", "1200", "0001"], ["HL", "1", "", "S"],
                    ["TD1", "CTN", str(rng.randrange(1, 9))]]
            hl = 1
            ship_dtm017 = rng.random() < 0.7
            if ship_dtm017:
                els, ship_eta = self.date_els(self.rand_time())
                segs.append(["DTM", "017"] + els)
                if rng.random() < 0.5:
                    els2, _ = self.date_els(self.rand_time() - 5 * 86400 * 1000)
                    segs.append(["DTM", "011"] + els2)
            else:
                els, shipped = self.date_els(self.rand_time() - 3 * 86400 * 1000)
                segs.append(["DTM", "011"] + els)
                tr = rng.choice(sorted(TRANSIT))
                opts += ["--transit", tr]
                ship_eta = shipped + TRANSIT[tr]
            if ship_to:
                segs.append(["N1", "ST", "SHIP TO", "92", self.code(ship_to)])
            items = []   # (sku, loc, eta, qty)
            for o in range(rng.randrange(1, 4)):
                hl += 1
                order_hl = hl
                segs += [["HL", str(hl), "1", "O"], ["PRF", "PO-%d-%d" % (self.ship_n, o)]]
                o_loc, o_eta = ship_to or fallback, ship_eta
                if rng.random() < 0.3:
                    o_loc = rng.choice(LOCS)
                    segs.append(["N1", "ST", "ORDER SHIP TO", "92", self.code(o_loc)])
                if ship_dtm017 and rng.random() < 0.2:
                    els, o_eta = self.date_els(self.rand_time())
                    segs.append(["DTM", "017"] + els)
                for _ in range(rng.randrange(1, 4)):
                    hl += 1
                    sku = rng.choice(SKUS)
                    qty = rng.randrange(1, 60)
                    segs += [["HL", str(hl), str(order_hl), "I"], ["LIN", "", "SK", sku],
                             ["SN1", "", str(qty), "EA"]]
                    i_loc = o_loc
                    if rng.random() < 0.1:
                        i_loc = rng.choice(LOCS)
                        segs.append(["N1", "ST", "ITEM SHIP TO", "92", self.code(i_loc)])
                    item_hl = hl
                    if rng.random() < 0.25:
                        hl += 1
                        segs += [["HL", str(hl), str(item_hl), "P"],
                                 ["MAN", "GM", "%020d" % hl], ["SN1", "", str(qty), "EA"]]
                    items.append((sku, i_loc, o_eta, qty))
            segs.append(["CTT", str(hl)])
            lots, etas = {}, {}
            consistent = True
            for sku, loc, eta, qty in items:
                if etas.setdefault((sku, loc), eta) != eta:
                    consistent = False
                q0 = lots.get((sku, loc, sid), (0, eta))[0]
                lots[(sku, loc, sid)] = (q0 + qty, eta)
            if consistent:
                # the model's reading of the segments agrees with what was meant
                assert self._sum_items(segs, {"opts": opts}) == lots, (segs, lots)
                return sid, segs, opts, lots
        raise AssertionError("no consistent shipment generated")

    def write856(self, segs, style=None, sets_before=()):
        style = style or self.rng.choice(STYLES)
        p = self.path("856.edi")
        with open(p, "w", newline="") as f:
            f.write(self.x12_text(list(sets_before) + [("856", segs)], style))
        return p

    def f856(self, snapshot=False, corrupt=None):
        sid, segs, opts, lots = self.new_shipment()
        events = [("lot_add", k[0], k[1], k[2], v[0], v[1]) for k, v in sorted(lots.items())]
        if corrupt == "transit":
            if "--transit" in opts:
                i = opts.index("--transit")
                del opts[i:i + 2]
            else:
                segs = [s for s in segs if not (s[0] == "DTM" and s[1] == "017")]
                if not any(s[0] == "DTM" for s in segs):
                    segs.insert(3, ["DTM", "011", "20261207", "0800"])
        elif corrupt is None:
            self.shipments[sid] = {"segs": segs, "opts": opts, "lots": lots, "open": True}
        p = self.write856(segs)
        return File(p, opts, events, "inbound", "856 %s%s%s (%s)" % (
            sid, " --snapshot" if snapshot else "", " bad:" + corrupt if corrupt else "",
            os.path.basename(p)), snapshot=snapshot, bad=corrupt is not None, sid=sid)

    def open_shipment(self, model):
        ids = [s for s, v in sorted(self.shipments.items())
               if v["open"] and all(k in model.lots for k in v["lots"])]
        return self.rng.choice(ids) if ids else None

    def f856_cancel(self, sid):
        sh = self.shipments[sid]
        segs = [list(s) for s in sh["segs"]]
        segs[0][1] = self.rng.choice(["01", "03"])
        sh["open"] = False
        p = self.write856(segs)
        events = [("lot_cancel", k[0], k[1], k[2]) for k in sorted(sh["lots"])]
        return File(p, sh["opts"], events, "inbound", "856 cancel %s BSN01 %s (%s)" % (
            sid, segs[0][1], os.path.basename(p)))

    def f856_update(self, sid):
        """The same shipment again with new quantities: adding an existing
        lot changes it."""
        sh = self.shipments[sid]
        segs = [list(s) for s in sh["segs"]]
        level, item_qty = None, None
        for s in segs:
            if s[0] == "HL":
                level = s[3]
            elif s[0] == "SN1" and level == "I":
                item_qty = self.rng.randrange(1, 60)
                s[2] = str(item_qty)
            elif s[0] == "SN1" and level == "P":
                s[2] = str(item_qty)   # a pack repeats its item's count
        lots = self._sum_items(segs, sh)
        c = sorted(lots) == sorted(sh["lots"])
        assert c, (lots, sh["lots"])
        sh["lots"] = lots
        sh["segs"] = segs
        p = self.write856(segs)
        events = [("lot_add", k[0], k[1], k[2], v[0], v[1]) for k, v in sorted(lots.items())]
        return File(p, sh["opts"], events, "inbound", "856 re-sent %s (%s)" % (
            sid, os.path.basename(p)))

    def _sum_items(self, segs, sh):
        """Lots of a shipment's segments, read the way docs/IMPORT.md says
        (nearest N1*ST and DTM*017 among the item's level and ancestors),
        for a tree whose ETAs new_shipment already made consistent."""
        sid = segs[0][2]
        opts = sh["opts"]
        fallback = opts[opts.index("--location") + 1] if "--location" in opts else None
        transit = TRANSIT[opts[opts.index("--transit") + 1]] if "--transit" in opts else None
        parent, attrs = {}, {}
        cur = "0"
        header = {"st": None, "017": None, "011": None}
        levels, lin = {}, {}
        sn1 = {}
        for s in segs:
            if s[0] == "HL":
                cur = s[1]
                parent[cur] = s[2] or "0"
                levels[cur] = s[3]
                attrs[cur] = {"st": None, "017": None, "011": None}
            else:
                a = attrs.get(cur, header) if cur != "0" else header
                if s[0] == "N1" and s[1] == "ST":
                    a["st"] = s[4]
                elif s[0] == "DTM" and s[1] in ("017", "011"):
                    a[s[1]] = s[2:]
                elif s[0] == "LIN":
                    lin[cur] = s[3]
                elif s[0] == "SN1":
                    sn1[cur] = int(s[2])
        code_to_loc = {"E01": "DC-EAST", "W01": "DC-WEST", "DC-EAST": "DC-EAST",
                       "DC-WEST": "DC-WEST"}

        def nearest(hl, key):
            while hl and hl != "0":
                if attrs[hl][key] is not None:
                    return attrs[hl][key]
                hl = parent[hl]
            return header[key]

        def to_ms(els):
            d = els[0]
            if len(d) == 6:
                y = int(d[:2])
                d = ("20" if y < 50 else "19") + d
            t = els[1] if len(els) > 1 else "0000"
            return ms(int(d[:4]), int(d[4:6]), int(d[6:8]), int(t[:2]), int(t[2:4]),
                      int(t[4:6]) if len(t) == 6 else 0)

        lots = {}
        for hl, lvl in levels.items():
            if lvl != "I":
                continue
            st = nearest(hl, "st")
            loc = code_to_loc[st] if st else fallback
            d17 = nearest(hl, "017")
            eta = to_ms(d17) if d17 else to_ms(nearest(hl, "011")) + transit
            k = (lin[hl], loc, sid)
            lots[k] = (lots.get(k, (0, eta))[0] + sn1[hl], eta)
        return lots

    # ---- CSV

    def csv_text(self, header, rows, delim, crlf, bom, blank):
        def field(v):
            v = str(v)
            if delim in v or '"' in v or self.rng.random() < 0.15:
                return '"' + v.replace('"', '""') + '"'
            if self.rng.random() < 0.1:
                return " " + v + " "
            return v
        eol = "\r\n" if crlf else "\n"
        lines = []
        if header is not None:
            lines.append(delim.join(header))
        for r in rows:
            lines.append(delim.join(field(v) for v in r))
            if blank and self.rng.random() < 0.2:
                lines.append("")
        return ("\ufeff" if bom else "") + eol.join(lines) + eol

    def csv_layout(self, names, custom):
        """(header or None, column order, options)."""
        rng = self.rng
        order = list(names)
        rng.shuffle(order)
        no_header = rng.random() < 0.2
        header = None if no_header else [custom[n] if custom else n for n in order]
        opts = []
        if no_header or custom or set(names) != {"sku", "location", "qty"} or rng.random() < 0.3:
            spec = []
            for n in names:
                if no_header or rng.random() < 0.3:
                    spec.append("%s=%d" % (n, order.index(n) + 1))
                else:
                    nm = custom[n] if custom else n
                    spec.append("%s=%s" % (n, rng.choice([nm, nm.upper(), nm.lower()])))
            opts += ["--csv-columns", ",".join(spec)]
        if no_header:
            opts.append("--no-header")
        return header, order, opts

    def delimiter(self):
        d = self.rng.choice([",", ";", "tab", "|"])
        return d, {"tab": "\t"}.get(d, d)

    def csv_stock(self, snapshot=False, large=False, corrupt=None):
        rng = self.rng
        dname, delim = self.delimiter()
        with_bucket = rng.random() < 0.4
        names = ["sku", "location", "qty"] + (["bucket"] if with_bucket else [])
        custom = {"sku": "Item", "location": "Site", "qty": "Units", "bucket": "Kind"} \
            if rng.random() < 0.4 else None
        header, order, opts = self.csv_layout(names, custom)
        opts += ["--delimiter", dname]
        bucket = "on_hand"
        if not with_bucket and rng.random() < 0.3:
            bucket = rng.choice(["on_hand", "held", "allocated"])
            opts += ["--bucket", bucket]
        rows, events, used = [], [], set()
        if large:
            keys = [("L-%03d" % i, rng.choice(LOCS), "on_hand" if with_bucket else bucket)
                    for i in range(rng.randrange(MAX_EVENTS + 5, MAX_EVENTS + 15))]
        else:
            keys = [(rng.choice(SKUS), rng.choice(LOCS),
                     rng.choice(["on_hand", "on_hand", "held", "allocated"]) if with_bucket
                     else bucket) for _ in range(rng.randrange(1, 7))]
        for sku, loc, b in keys:
            if (sku, loc, b) in used:
                continue
            used.add((sku, loc, b))
            qty = rng.randrange(0, 400)
            rec = {"sku": sku, "location": loc, "qty": qty, "bucket": b}
            rows.append([rec[n] for n in order])
            events.append(("set", sku, loc, b, qty))
        bad = corrupt is not None
        if corrupt == "field":
            rows[-1] = rows[-1][:-1]
        elif corrupt == "qty":
            rows[-1][order.index("qty")] = rng.choice(["abc", "7.5", "12x"])
        elif corrupt == "location":
            rows[-1][order.index("location")] = "DC-NOPE"
        text = self.csv_text(header, rows, delim, rng.random() < 0.3, rng.random() < 0.2,
                             not large)
        p = self.path("csv")
        with open(p, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        return File(p, opts, events, "stock", "stock CSV%s%s%s (%s)" % (
            " large" if large else "", " --snapshot" if snapshot else "",
            " bad:" + corrupt if bad else "", os.path.basename(p)),
            snapshot=snapshot, bad=bad)

    def eta_text(self):
        t = self.rand_time()
        g = gm(t)
        r = self.rng.randrange(6)
        if r == 0:
            return time.strftime("%Y-%m-%d", g), ms(g.tm_year, g.tm_mon, g.tm_mday)
        if r == 1:
            return time.strftime("%Y%m%d", g), ms(g.tm_year, g.tm_mon, g.tm_mday)
        if r == 2:
            return time.strftime("%Y-%m-%dT%H:%M", g) + self.rng.choice(["", "Z"]), \
                ms(g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min)
        if r == 3:
            return time.strftime("%Y-%m-%dT%H:%M:%S", g) + self.rng.choice(["", "Z"]), \
                ms(g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec)
        if r == 4:
            return time.strftime("%Y-%m-%d %H:%M", g), \
                ms(g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min)
        return time.strftime("%Y-%m-%d %H:%M:%S", g), \
            ms(g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec)

    def csv_inbound(self, snapshot=False, large=False, corrupt=None):
        rng = self.rng
        dname, delim = self.delimiter()
        names = ["sku", "location", "qty", "lot", "eta"]
        custom = {"sku": "Article", "location": "Warehouse", "qty": "Units", "lot": "PO",
                  "eta": "Arrival"} if rng.random() < 0.4 else None
        header, order, opts = self.csv_layout(names, custom)
        opts += ["--delimiter", dname]
        rows, events, used = [], [], set()
        n = rng.randrange(MAX_EVENTS + 5, MAX_EVENTS + 15) if large else rng.randrange(1, 6)
        for i in range(n):
            if large:
                sku, loc, lot = "L-%03d" % i, rng.choice(LOCS), "PO-L%03d" % i
            else:
                sku, loc, lot = rng.choice(SKUS), rng.choice(LOCS), "PO-%02d" % rng.randrange(12)
            if (sku, loc, lot) in used:
                continue
            used.add((sku, loc, lot))
            qty = rng.randrange(0, 90)
            et, eta = self.eta_text()
            rec = {"sku": sku, "location": loc, "qty": qty, "lot": lot, "eta": et}
            rows.append([rec[nm] for nm in order])
            events.append(("lot_add", sku, loc, lot, qty, eta))
        bad = corrupt is not None
        if corrupt == "field":
            rows[-1] = rows[-1][:-1]
        elif corrupt == "eta":
            rows[-1][order.index("eta")] = rng.choice(["2026-13-01", "soon", "01/12/2026"])
        text = self.csv_text(header, rows, delim, rng.random() < 0.3, rng.random() < 0.2,
                             not large)
        p = self.path("csv")
        with open(p, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        return File(p, opts, events, "inbound", "inbound CSV%s%s%s (%s)" % (
            " large" if large else "", " --snapshot" if snapshot else "",
            " bad:" + corrupt if bad else "", os.path.basename(p)),
            snapshot=snapshot, bad=bad)

    def bad(self):
        k = self.rng.choice(["846:se", "846:qty", "846:location", "846:linebreak",
                             "856:transit", "stock:field", "stock:qty", "stock:location",
                             "inbound:eta", "inbound:field"])
        kind, corrupt = k.split(":")
        if kind == "846":
            return self.f846(corrupt=corrupt)
        if kind == "856":
            ship_n = self.ship_n
            f = self.f856(corrupt=corrupt)
            self.ship_n = ship_n
            return f
        if kind == "stock":
            return self.csv_stock(corrupt=corrupt)
        return self.csv_inbound(corrupt=corrupt)


def main(h):
    c = harness.Checks(h, limit=60)
    seed = int(os.environ.get("ATP_TEST_SEED") or random.SystemRandom().randrange(1 << 31))
    h.log("seed %d (ATP_TEST_SEED=%d repeats this run)", seed, seed)
    rng = random.Random(seed)
    key = write_key(h)
    cfg = import_config(h, key_file=key, max_events_per_message=MAX_EVENTS)
    d, q = start(h, cfg)
    imp = Importer(h, d.config_path)
    gen = Gen(rng, h.tmp, data_path(h, "tpl.map"))
    model = Model()
    ops = (["846"] * 4 + ["856"] * 5 + ["cancel"] * 2 + ["update"] + ["stock"] * 4 +
           ["inbound"] * 3 + ["846-snap", "stock-snap", "856-snap", "inbound-snap"] +
           ["large-846", "large-stock", "large-inbound"] + ["bad"] * 5)
    rng.shuffle(ops)
    ops = ["846"] + ops
    assert len(ops) == N_OPS, len(ops)
    kill_after = N_OPS // 2
    last_seq = None
    after_kill = False  # the first good run after the kill -9 not yet made
    compared_after_kill = False
    unsynced = False
    for i, op in enumerate(ops, 1):
        if op in ("cancel", "update"):
            sid = gen.open_shipment(model)
            if sid is None:
                op = "856"
        if op == "846":
            f = gen.f846()
        elif op == "846-snap":
            f = gen.f846(snapshot=True)
        elif op == "large-846":
            f = gen.f846(large=True)
        elif op == "856":
            f = gen.f856()
        elif op == "856-snap":
            f = gen.f856(snapshot=True)
        elif op == "cancel":
            f = gen.f856_cancel(sid)
        elif op == "update":
            f = gen.f856_update(sid)
        elif op == "stock":
            f = gen.csv_stock()
        elif op == "stock-snap":
            f = gen.csv_stock(snapshot=True)
        elif op == "large-stock":
            f = gen.csv_stock(large=True)
        elif op == "inbound":
            f = gen.csv_inbound()
        elif op == "inbound-snap":
            f = gen.csv_inbound(snapshot=True)
        elif op == "large-inbound":
            f = gen.csv_inbound(large=True)
        else:
            f = gen.bad()
        opts = f.opts + (["--snapshot"] if f.snapshot else [])
        h.log("%2d/%d %s", i, N_OPS, f.what)
        files_before = imp.state_files()
        r = imp.imp(f.path, *opts, timeout="30s")
        what = "run %d, %s" % (i, f.what)
        sent = False
        if f.bad:
            c.check(r.rc == 1, "%s: exit %s, want 1: %r", what, r.rc, r)
            c.check(isinstance(r.obj, dict) and r.obj.get("ok") is False and r.obj.get("errors"),
                    "%s: no JSON error list: %r", what, r)
            c.check(imp.state_files() == files_before, "%s: the state directory changed", what)
        else:
            ok = c.check(r.rc == 0, "%s: exit %s, want 0: %r", what, r.rc, r)
            o = r.obj if isinstance(r.obj, dict) else {}
            if ok:
                # docs/IMPORT.md: a snapshot when asked, when too big, on
                # a first run; after the kill -9 atpd may be behind (either)
                want_sent = ("snapshot" if (f.snapshot or len(f.events) > MAX_EVENTS
                                            or last_seq is None) else "batch")
                if want_sent == "batch" and after_kill:
                    c.check(o.get("sent_as") in ("batch", "snapshot"), "%s: sent_as %r",
                            what, o.get("sent_as"))
                else:
                    c.eq(o.get("sent_as"), want_sent, what + ": sent_as")
                after_kill = False
                c.eq(o.get("applied"), True, what + ": applied")
                seq = o.get("seq")
                c.check(isinstance(seq, int) and (last_seq is None or seq > last_seq),
                        "%s: seq %r not above the previous run's %r", what, seq, last_seq)
                last_seq = seq if isinstance(seq, int) else last_seq
                s = q.sources().get(SOURCE) or {}
                c.eq((s.get("last_seq"), s.get("session")), (seq, o.get("session")),
                     what + ": atpd's (last_seq, session) = the summary's")
            if r.rc == 1:
                # rejected ("sends nothing, changes nothing"): the model stays as
                # it was, so that one defect does not fail every later run
                gen.shipments.pop(f.sid, None)
                c.check(imp.state_files() == files_before, "%s: the state directory changed",
                        what)
            else:
                sent = True
                if f.snapshot:
                    if f.kind == "stock":
                        model.b = {}
                    else:
                        model.lots = {}
                model.apply_events(f.events)
        if sent:
            unsynced = False
        if unsynced:
            pass  # nothing was sent since the kill: atpd may still lack what it lost
        elif not compare(c, q, model, what):
            h.log("   diverged at run %d (seed %d); file kept: %s", i, seed, f.path)
        if i == kill_after:
            h.log("kill -9 atpd (pid %d) and restart it", d.pid)
            q.close()
            d.kill9()
            d.start()
            q = harness.Client(d.query_port, d=d)
            compared_after_kill = True
            after_kill = True
            unsynced = True
        if len(c.failures) > 40:
            break
    c.check(compared_after_kill, "the kill -9 happened")
    s = q.sources()[SOURCE]
    c.eq((s.get("rejected_messages"), s.get("bad_mac")), (0, 0),
         "atpd rejected nothing the importer sent")
    h.log("source at the end: %r", {k: s.get(k) for k in (
        "state", "last_seq", "messages", "snapshots_applied", "snapshots_aborted",
        "resync_requests", "gaps", "duplicates", "sessions", "conflicts")})
    q.close()
    c.eq(d.stop(), 0, "clean stop")
    if c.failures:
        h.log("seed %d: %d failures", seed, len(c.failures))
    c.done()


if __name__ == "__main__":
    harness.run(main, "import_model")

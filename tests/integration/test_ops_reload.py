#!/usr/bin/python3
"""test_ops_reload.py - SIGHUP reloads the configuration file (issue 15;
docs/CONFIG.md, "Reload"):

1. A buffer rule changed in the file, then SIGHUP: ATP changes at once for
   the rows under the rule, a change-feed message says so, the log says
   "reload applied", atpd keeps running.
2. A broken file: refused with the --check-config style lines (file:line:
   column: message) in the log; the old rules keep serving.
3. A source's resync changed (structure): refused as a whole, logged;
   nothing applied, not even a buffer rule changed with it. A location
   added is not structure: it takes a spare place and the file applies
   with it.
   (A location moved to another region is applied: test_ops_relocate.py.)
4. A start-up key changed (snapshot_interval) with a rule: the rule is
   applied, the key is logged as waiting for a restart.
5. A source's heartbeat_timeout shortened: the quiet source turns silent
   (and its region stale) within the new timeout.
6. log_format: json takes effect with the reload's own summary line.

Label: integration, ops. Bounded: about 10 s (x4 under sanitizers).
"""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_util  # noqa: E402
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402


class Log:
    """atpd's stderr, read from where the last wait stopped."""

    def __init__(self, d):
        self.d = d
        self.pos = 0

    def wait(self, text, what, timeout_s=10):
        found = {}

        def f():
            self.d.check_alive()
            with open(self.d.stderr_path, "rb") as fh:
                fh.seek(self.pos)
                chunk = fh.read().decode("utf-8", "replace")
            i = chunk.find(text)
            if i < 0:
                return False
            end = chunk.find("\n", i)
            found["seen"] = chunk[:end + 1 if end >= 0 else len(chunk)]
            self.pos += len(found["seen"].encode("utf-8"))
            return True
        harness.wait_until(f, timeout_s, 0.02, "log line %r (%s)" % (text, what))
        return found["seen"]


def write_config(d, configured):
    """d.cfg into the file, but with the listen URLs as first configured
    (port 0), not the bound ports the harness keeps in d.cfg: those would
    be start-up keys changed."""
    cfg = dict(d.cfg)
    cfg["service"] = dict(cfg["service"])
    for key in ("query_listen", "ingest_listen", "feed_listen", "control_listen"):
        cfg["service"][key] = configured[key]
    with open(d.config_path, "w") as f:
        f.write(harness.to_yaml(cfg) + "\n")


def hup(d, log, text, what):
    os.kill(d.pid, signal.SIGHUP)
    return log.wait(text, what)


def main(h):
    sources = [harness.source_entry("wms", [(["La", "Lb"], ["on_hand"])]),
               harness.source_entry("quiet", [(["Lq"], ["on_hand"])])]
    cfg = harness.build_config(
        h, ["ra", "rb", "rq"], [("La", "ra"), ("Lb", "rb"), ("Lq", "rq")], sources,
        buffers=[{"sku": "X", "region": "ra", "units": 2}])
    configured = dict(cfg["service"])
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    log = Log(d)
    pub = harness.Publisher(d, c)
    pub.send_payload(pub.next_batch("wms", [[2, "X", "La", 0, 10], [2, "X", "Lb", 0, 10],
                                             [2, "Y", "La", 0, 10]])[1])
    pub.wait_applied("wms")
    ck.eq(c.atp("X", "ra")["atp"], 8, "X/ra before the reload")
    sub = feed_util.Sub(d, prefixes=(feed_util.prefix("ra"),))
    sub.quiet(0.3)

    # 1. A changed rule: applied, published on the change feed.
    d.cfg["buffers"] = [{"sku": "X", "region": "ra", "units": 5}]
    write_config(d, configured)
    line = hup(d, log, "reload applied", "rule 2 -> 5")
    h.log("%s", line.strip())
    ck.check("1 added, removed or changed" not in line and "2 added, removed or changed" in line,
             "the summary counts the old and the new rule: %s" % line)
    ck.eq(c.atp("X", "ra")["atp"], 5, "X/ra right after the reload")
    ck.eq(c.atp("X", "rb")["atp"], 10, "X/rb: no rule, unchanged")
    ck.eq(c.atp("Y", "ra")["atp"], 10, "Y/ra: no rule, unchanged")
    got = sub.wait_for(lambda r, s, b: s == "X" and any(ch.get("atp") == 5 for ch in b["channels"]),
                       5, "X/ra with ATP 5")
    ck.check(all(s == "X" for _, s, _, _ in got), "only X's row published: %r"
             % [(r, s) for r, s, _, _ in got])

    # 2. A broken file: refused, the old config keeps serving.
    with open(d.config_path, "a") as f:
        f.write("buffers:\n  - {sku: X, units: -3}\n")
    line = hup(d, log, "reload refused", "broken file")
    with open(d.stderr_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    ck.check("%s:" % d.config_path in text and "cannot use configuration" in line,
             "the refusal names the file with --check-config style lines: %s" % line)
    ck.eq(c.atp("X", "ra")["atp"], 5, "X/ra after the refused reload")
    d.check_alive()

    # 3. Structure: a source's resync changed; refused as a whole.
    d.cfg["sources"][0]["resync"] = False
    d.cfg["buffers"] = [{"sku": "X", "region": "ra", "units": 1}]
    write_config(d, configured)
    line = hup(d, log, "reload refused", "a source changed")
    with open(d.stderr_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    ck.check("sources: source wms: id, resync, max_seq_jump or key changed; that needs a "
             "restart" in text, "the change is named in the log")
    ck.eq(c.atp("X", "ra")["atp"], 5, "X/ra: the rule in the refused file not applied")
    del d.cfg["sources"][0]["resync"]
    # ... a location added is not structure: it takes a spare place
    # (service.spare_locations) and the rest of the file applies with it.
    d.cfg["locations"].append({"id": "Lnew", "region": "ra", "type": "store"})
    write_config(d, configured)
    hup(d, log, "reload applied", "location added")
    ck.check("Lnew" in [l["id"] for l in c.ok({"op": "admin_list"})["locations"]],
             "admin_list lists the location the file added")
    ck.eq(c.atp("X", "ra")["atp"], 9, "X/ra: the file's rule applied with it")
    d.cfg["locations"].pop()

    # 4. A start-up key with a rule: the rule applies, the key waits.
    d.cfg["service"]["snapshot_interval"] = "7s"
    d.cfg["buffers"] = [{"sku": "X", "region": "ra", "units": 1}]
    write_config(d, configured)
    hup(d, log, "reload applied", "rule 5 -> 1 with snapshot_interval")
    with open(d.stderr_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    ck.check("service.snapshot_interval changed; the running value stays" in text,
             "the start-up key is logged")
    ck.eq(c.atp("X", "ra")["atp"], 9, "X/ra after rule 1")

    # 5. A shorter heartbeat_timeout: the quiet source turns silent.
    ck.eq(d.sources()["quiet"]["state"], "waiting", "quiet within its 10 min timeout")
    d.cfg["sources"][1]["heartbeat_timeout"] = "1s"
    # 6. ... and json logs from the reload's own summary on.
    d.cfg["service"]["log_format"] = "json"
    write_config(d, configured)
    line = hup(d, log, "reload applied", "heartbeat 10m -> 1s, json")
    obj = json.loads(line.strip().splitlines()[-1])
    ck.eq(sorted(obj), ["level", "message", "module", "time"], "json log keys")
    ck.eq((obj["level"], obj["module"]), ("info", "atpd"), "json level and module")
    harness.wait_until(lambda: d.sources()["quiet"]["state"] == "silent", 10, 0.05,
                       "quiet silent after the reload")
    harness.wait_until(lambda: c.atp("Z", "rq")["stale"] is True, 5, 0.02, "rq stale")

    sub.close()
    pub.close()
    c.close()
    ck.done()
    d.stop()


if __name__ == "__main__":
    harness.run(main, "ops_reload")

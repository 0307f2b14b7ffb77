#!/usr/bin/python3
"""test_readme_tour.py - the README's five-minute tour and simulator
example, run as written against the `make run` demo (config/demo.yaml and
the feeds of tools/demo/run-demo.sh, on free ports), so that every command
it shows works and every output it shows is true:

- every `build/atpctl ...`, `build/atp-feed ...` and `build/atp-import
  ...` line of the tour and of the simulator and file examples runs and
  exits 0 (atp-import takes my-feed over once the simulator's session is
  silent: about 10 s) (a reserve may be refused: 4),
  the one over HTTP (`--endpoint http://127.0.0.1:7080`) against the
  demo's HTTP port;
- a line the README shows as output (`# SKU-1 @ us-east (web): ...`) is
  what the command prints, numbers aside;
- what the comments claim: my-feed `waiting` or `silent` before the
  example, `ok` with nothing missed after it, region lab with supply and
  not stale.

Label: integration, correctness. Bounded: about 40 s.
"""

import json
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

TF = harness.TIME_FACTOR


def readme_blocks(h):
    """(tour lines, simulator lines): the indented command lines (joined
    over trailing backslashes) with the comment lines that follow each."""
    with open(os.path.join(h.source_dir, "README.md")) as f:
        text = f.read()
    tour = text[text.index("## A five-minute tour"):text.index("Feed your own stock")]
    sim = text[text.index("Feed your own stock"):text.index("Run your own service")]

    def commands(part):
        out, cur = [], None
        lines = [l[4:] for l in part.splitlines() if l.startswith("    ")]
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("build/") or line.startswith("printf "):
                cmd = line
                while cmd.endswith("\\"):
                    i += 1
                    cmd = cmd[:-1] + " " + lines[i].strip()
                cur = {"cmd": cmd, "shown": []}
                out.append(cur)
            elif line.startswith("#") and cur is not None:
                cur["shown"].append(line[1:].strip())
            i += 1
        return out
    return commands(tour), commands(sim)


def main(h):
    qp, ip, fp, cp = harness.free_ports(4)
    urls = {"query": "tcp://127.0.0.1:%d" % qp, "ingest": "tcp://127.0.0.1:%d" % ip,
            "feed": "tcp://127.0.0.1:%d" % fp, "control": "tcp://127.0.0.1:%d" % cp}
    data = os.path.join(h.tmp, "data")
    ready = os.path.join(h.tmp, "atpd.ready")
    config = os.path.join(h.source_dir, "config", "demo.yaml")
    logf = open(os.path.join(h.tmp, "atpd.log"), "wb")
    atpd = harness._spawn([h.atpd_bin, "--config", config, "--query-listen", urls["query"],
                           "--ingest-listen", urls["ingest"], "--feed-listen", urls["feed"],
                           "--control-listen", urls["control"], "--data-dir", data,
                           "--http-listen", "http://127.0.0.1:0", "--ready-file", ready],
                          stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    env = dict(os.environ, ATPD_ENDPOINT=urls["query"], ATPD_FEED=urls["feed"])
    ctl = [h.atpctl_bin, "--json"]

    def query(*args):
        r = subprocess.run(ctl + list(args), capture_output=True, text=True, env=env,
                           timeout=30 * TF)
        return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else None

    # status answers before the restore ends; the ready file is written
    # (renamed into place) once atpd is ready, with the bound HTTP URL.
    harness.wait_until(lambda: atpd.poll() is None and os.path.exists(ready)
                       and query("status") is not None, 30, 0.1, "atpd with config/demo.yaml")
    with open(ready) as f:
        http_url = json.load(f)["http"]  # the tour's http://127.0.0.1:7080
    # The demo's feeds, as tools/demo/run-demo.sh starts them.
    for seed, src in enumerate(("wms-east", "3pl-acme", "erp"), 1):
        harness._spawn([h.feed_bin, "--config", config, "--endpoint", urls["ingest"],
                        "--control", urls["control"], "--source", src, "--rate", "20",
                        "--batch", "25", "--skus", "200", "--seed", str(seed),
                        "--duration", "300", "--quiet"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)
    harness.wait_until(lambda: (query("atp", "SKU-1", "us-east") or {}).get("supply", 0) > 10,
                       30, 0.2, "SKU-1 in stock in us-east")
    ck = harness.Checks(h)
    tour, sim = readme_blocks(h)
    ck.check(len(tour) >= 15 and len(sim) >= 3, "README blocks found: %d, %d" % (len(tour), len(sim)))

    def run(cmd):
        cmd = cmd.replace("DATA_DIR", data).replace("http://127.0.0.1:7080", http_url)
        cmd = cmd.replace("BACKUP_DIR", os.path.join(h.tmp, "backup"))  # new, ours
        if cmd.startswith("build/atp-feed"):
            cmd += " --endpoint %s --control %s" % (urls["ingest"], urls["control"])
        if cmd.startswith("build/atp-import"):  # the README's: my-feed from a file
            cmd += " --endpoint %s --control %s --query %s" % (
                urls["ingest"], urls["control"], urls["query"])
            cmd = cmd.replace("/tmp/atp-import", os.path.join(h.tmp, "atp-import"))
        cmd = re.sub(r"(^|\| )build/", lambda m: m.group(1) + h.bin_dir + "/", cmd)
        try:
            r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env,
                               cwd=h.source_dir, timeout=60 * TF)
        except subprocess.TimeoutExpired as e:
            # What it printed tells a hang after the work (a close) from
            # one before it (nothing received).
            raise TestFailure("%s: no exit within %.0f s; it printed %r, stderr %r" % (
                cmd, 60 * TF, e.stdout, e.stderr))
        h.log("$ %s -> exit %d", cmd.replace(h.bin_dir + "/", "build/"), r.returncode)
        return r

    for step in tour:
        r = run(step["cmd"])
        ok = r.returncode == 0 or (" reserve " in step["cmd"] and r.returncode == 4)
        ck.check(ok, "%s: exit %d: %s" % (step["cmd"], r.returncode, r.stderr.strip()[:300]))
        for shown in step["shown"]:
            if not shown.startswith(("SKU-", "{")):
                continue  # a comment, not an output
            # Numbers vary with the live feeds, except the rule's fixed buffer.
            pat = re.escape(shown)
            pat = re.sub(r"(ATP|supply|reserved|shortfall)\\ \d+", r"\1\\ \\d+", pat)
            ck.check(re.search(pat, r.stdout) is not None,
                     "%s: shown %r, printed %r" % (step["cmd"], shown, r.stdout.strip()))
        if step["cmd"].startswith("build/atpctl sources"):
            st = {s["id"]: s for s in query("sources")["sources"]}
            ck.check(st["my-feed"]["state"] in ("waiting", "silent"),
                     "before the example my-feed is %s" % st["my-feed"]["state"])
            ck.check(all(st[s]["state"] == "ok" for s in ("wms-east", "3pl-acme", "erp")),
                     "the demo's sources are ok: %r" % {k: v["state"] for k, v in st.items()})

    r = run(sim[0]["cmd"])
    ck.eq(r.returncode, 0, "the simulator example (%s)" % r.stderr.strip()[-300:])
    ck.check("--source my-feed" in sim[0]["cmd"], "the example feeds its own source")
    for step in sim[1:]:
        ck.eq(run(step["cmd"]).returncode, 0, step["cmd"])
    s = {x["id"]: x for x in query("sources")["sources"]}["my-feed"]
    ck.check(s["state"] in ("ok", "silent") and s["missed"] == 0 and s["last_seq"] > 0,
             "my-feed after the example: %r" % s)
    lab = [x for x in query("regions", "SKU-1")["regions"] if x["region"] == "lab"][0]
    ck.check(lab["supply"] > 0, "lab has supply after the example: %r" % lab)
    if s["age_ms"] < 8000:  # within my-feed's heartbeat_timeout (10 s)
        ck.check(lab["stale"] is False, "lab not stale right after the example: %r" % lab)
    ck.done()
    harness._stop_pid(atpd, 15 * TF)
    ck.eq(atpd.returncode, 0, "atpd stopped cleanly")


if __name__ == "__main__":
    harness.run(main, "readme_tour")

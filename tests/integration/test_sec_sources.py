#!/usr/bin/python3
"""test_sec_sources.py - issue 14, "Sources (feeds)": who may change a
source's numbers (docs/PROTOCOL.md, "Publisher sessions", "Bounded
sequence jumps", "Source keys", `source_reset`; docs/SECURITY.md,
"Sources").

1. A second publisher on one source id (another session while the first is
   live) is detected: its messages are counted as `conflicts` (state
   `conflict`, atpd_source_conflicts_total in /metrics), change nothing,
   and none of the first publisher's messages is lost or counted as a
   duplicate.
2. Once the first session has been silent for heartbeat_timeout, the new
   one takes over: its batches are dropped (`unsynced`) until its full
   snapshot applies; a snapshot numbered below the last applied seq is
   abandoned; then it applies.
3. A forged huge seq is rejected (`seq_rejected`), moves nothing, and the
   next real message applies.
   The same with two atp-feed processes on one source id, as the issue
   found it.
4. source_reset (nng op, HTTP route, atpctl source reset): nothing applies
   until a full snapshot, whatever its seq; a replay of an allocation
   applied before the reset does not consume its reservation again.
5. A source with a key: a message without a MAC or with a wrong one is
   counted (`bad_mac`) and changes nothing (not even its seq); the right
   MAC applies; atp-feed signs with the config's key_file (or
   --key-file); a key file others can read, or ingest_listen beyond
   loopback while a source has no key, stops atpd at start.

Labels: integration, security. Bounded: about 20 s.
"""

import hashlib
import hmac
import http.client
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import msgpack  # noqa: E402
from harness import TestFailure  # noqa: E402

TF = harness.TIME_FACTOR


def signed(key, elems):
    """A source message (elems: the envelope without its MAC) ending with
    HMAC-SHA-256(key, every byte before the MAC) as bin 8."""
    n = len(elems) + 1
    assert n <= 15
    prefix = bytes([0x90 | n]) + b"".join(msgpack.packb(e) for e in elems)
    return prefix + b"\xc4\x20" + hmac.new(key, prefix, hashlib.sha256).digest()


def write_key(h, name, mode=0o600):
    path = os.path.join(h.tmp, name)
    text = os.urandom(32).hex()
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, mode)
    return path, text.encode()


def metric(d, name, source):
    host, port = d.ready["http"].split("//")[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10 * TF)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    want = '%s{source="%s"} ' % (name, source)
    for line in text.splitlines():
        if line.startswith(want):
            return float(line[len(want):])
    raise TestFailure("no %s for %s in /metrics" % (name, source))


def http_post(d, path):
    host, port = d.ready["http"].split("//")[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10 * TF)
    conn.request("POST", path)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, body


def main(h):
    key_path, key = write_key(h, "signed.key")
    feed_key_path, _ = write_key(h, "feed.key")
    src = harness.source_entry
    cfg = harness.build_config(
        h, ["r1"], [("L1", "r1"), ("L2", "r1"), ("L3", "r1"), ("L4", "r1"), ("L5", "r1")],
        [src("wms", [(["L1"], ["on_hand", "allocated", "held"])],
             heartbeat_timeout="%dms" % int(1000 * TF)),
         dict(src("signed", [(["L2"], ["on_hand"])]), key_file=key_path),
         dict(src("jump", [(["L3"], ["on_hand"])]), max_seq_jump=1000),
         dict(src("feed", [(["L4"], ["on_hand"])]), key_file=feed_key_path),
         src("wms2", [(["L5"], ["on_hand"])])],
        http_listen="http://127.0.0.1:0")
    d = h.start_atpd(cfg)
    ck = harness.Checks(h)
    c = harness.Client(d.query_port, d=d)
    pub = harness.Publisher(d, c)

    def s(sid):
        return c.sources()[sid]

    def supply(sku):
        return c.atp(sku, "r1")["supply"]

    def settle(pred, what, timeout_s=10):
        harness.wait_until(pred, timeout_s * TF, 0.02, what)

    def send(msg):
        pub.send_payload(msgpack.packb(msg))

    now = harness.now_ms()

    # ---- 1. a second publisher on the same source id
    A, B = 1111, 2222
    n = 60
    for i in range(1, n + 1):
        send([1, "wms", i, now, [[1, "X", "L1", 0, 1]], A])        # X += 1
        send([1, "wms", i, now, [[2, "X", "L1", 0, 1000 + i]], B])  # the intruder
    settle(lambda: s("wms")["last_seq"] == n and s("wms")["conflicts"] == n,
           "A's %d messages applied, B's counted" % n)
    w = s("wms")
    ck.eq((supply("X"), w["messages"], w["duplicates"], w["conflicts"], w["session"]),
          (n, n, 0, n, A),
          "every one of the first publisher's deltas applied, none a duplicate; "
          "the second's counted as conflicts (supply, messages, duplicates, "
          "conflicts, session)")
    ck.eq(w["state"], "conflict", "the source shows the conflict")
    ck.eq(metric(d, "atpd_source_conflicts_total", "wms"), n, "the conflicts metric")
    ck.check(any("second publisher" in ln for ln in open(d.stderr_path, errors="replace")),
             "a log line names the second publisher")

    # ---- 2. after heartbeat_timeout of silence, a new session takes over
    settle(lambda: s("wms")["state"] == "silent", "A silent after its heartbeat_timeout", 15)
    send([1, "wms", n + 1, now, [[2, "X", "L1", 0, 5]], B])
    settle(lambda: s("wms")["unsynced"] == 1, "B's batch dropped before its snapshot")
    ck.eq((s("wms")["session"], s("wms")["sessions"], s("wms")["state"], supply("X")),
          (B, 1, "resyncing", n), "B is the session now, waiting for its snapshot")
    aborted = s("wms")["snapshots_aborted"]
    send([2, "wms", 1, 0, now, 3, True, [[2, "X", "L1", 0, 7]], B])  # seq 3 < 60
    settle(lambda: s("wms")["snapshots_aborted"] == aborted + 1,
           "a new session's snapshot below the last applied seq is abandoned")
    ck.eq(supply("X"), n, "the abandoned snapshot changed nothing")
    send([2, "wms", 2, 0, now, n + 5, True, [[2, "X", "L1", 0, 7]], B])
    settle(lambda: s("wms")["last_seq"] == n + 5 and supply("X") == 7, "B's snapshot applies")
    send([1, "wms", n + 6, now, [[1, "X", "L1", 0, 2]], B])
    settle(lambda: supply("X") == 9, "B's next batch applies")
    send([1, "wms", n + 7, now, [[1, "X", "L1", 0, 100]], A])  # A is the intruder now
    settle(lambda: s("wms")["conflicts"] == n + 1, "A is a conflict now")
    ck.eq(supply("X"), 9, "the old session's late message changed nothing")

    # ---- 3. a forged huge seq is no lock-out
    send([1, "jump", 1, now, [[2, "J", "L3", 0, 10]]])
    settle(lambda: s("jump")["last_seq"] == 1, "jump seq 1")
    send([1, "jump", 2 ** 53 - 1, now, [[2, "J", "L3", 0, 666]]])
    send([1, "jump", 1002, now, [[2, "J", "L3", 0, 667]]])   # 1 + 1000 + 1
    send([1, "jump", 2, now, [[2, "J", "L3", 0, 20]]])
    settle(lambda: s("jump")["last_seq"] == 2, "the real seq 2 applies")
    j = s("jump")
    ck.eq((j["seq_rejected"], j["duplicates"], supply("J")), (2, 0, 20),
          "two jumps beyond max_seq_jump rejected, nothing of them applied")
    bad0 = c.status()["ingest"]["bad_messages"]
    send([1, "jump", 3, now, [[2, "J", "L3", 0, 21]], "s1"])  # a session not a uint
    settle(lambda: c.status()["ingest"]["bad_messages"] == bad0 + 1, "a malformed session")
    send([1, "jump", 3, now, [[2, "J", "L3", 0, 22]]])
    settle(lambda: s("jump")["last_seq"] == 3, "seq 3: the malformed one consumed nothing")
    ck.eq(supply("J"), 22, "seq 3 as sent again")
    send([1, "jump", 1001, now, [[2, "J", "L3", 0, 30]]])     # 3 + 998: within the bound
    settle(lambda: s("jump")["held"] == 1, "a jump within the bound is a hole, held")
    ck.eq(s("jump")["seq_rejected"], 2, "within the bound: not rejected")

    # ---- 4. source_reset, and no second consumption by a replay
    seq = n + 6  # B's last; A's n + 7 was a conflict: it consumed nothing

    def wms(events):
        nonlocal seq
        seq += 1
        send([1, "wms", seq, now, events, B])
        settle(lambda: s("wms")["last_seq"] == seq, "wms seq %d" % seq)
        return seq

    wms([[2, "P", "L1", 0, 100], [2, "P", "L1", 1, 0]])
    r = c.reserve("R1", [["P", "r1", 10]])
    ck.check(r.get("granted") is True, "reserve R1: %r" % r)
    ck.check(c.ok({"op": "commit", "id": "R1", "order_ref": "SO-1"})["reservation"]["state"]
             == "committed", "R1 committed")
    alloc = [[1, "P", "L1", 1, 4, "R1"]]
    alloc_seq = wms(alloc)
    line = c.get("R1")["lines"][0]
    ck.eq(line["consumed"], 4, "the allocation consumed 4 of R1")
    atp_before = c.atp("P", "r1")["atp"]

    rep = c.req({"op": "source_reset", "source": "nope"})
    ck.eq(harness.error_code(rep), 19, "source_reset of an unknown source: not_found")
    c.ok({"op": "source_reset", "source": "wms"})
    settle(lambda: s("wms")["resets"] == 1 and s("wms")["state"] == "resyncing",
           "wms reset, waiting for a snapshot")
    send([1, "wms", seq + 1, now, [[1, "P", "L1", 0, 50]], B])
    settle(lambda: s("wms")["unsynced"] == 2, "after the reset a batch waits for the snapshot")
    # The sequence restarts at the snapshot's seq, below the old one: the
    # state as of seq 5, before the allocation.
    send([2, "wms", 3, 0, now, 5, True,
          [[2, "P", "L1", 0, 100], [2, "P", "L1", 1, 0], [2, "X", "L1", 0, 9]], B])
    settle(lambda: s("wms")["last_seq"] == 5, "the snapshot after the reset applies at seq 5")
    # A replay of the old stream from seq 6 on, the allocation included.
    for q in range(6, alloc_seq):
        send([1, "wms", q, now, [[3]], B])
    send([1, "wms", alloc_seq, now, alloc, B])
    settle(lambda: s("wms")["last_seq"] == alloc_seq, "the replay up to the allocation")
    r1 = c.get("R1")
    ck.eq((r1["lines"][0]["consumed"], r1["state"]), (4, "committed"),
          "the replayed allocation did not consume R1 a second time")
    ck.eq(c.atp("P", "r1")["atp"], atp_before, "ATP as before the reset and the replay")
    # HTTP and atpctl reach the same op.
    st, body = http_post(d, "/v1/sources/wms/reset")
    ck.eq(st, 200, "POST /v1/sources/wms/reset: %s" % body)
    st, body = http_post(d, "/v1/sources/nope/reset")
    ck.eq(st, 404, "POST /v1/sources/nope/reset: %s" % body)
    r = harness.run_ctl(h, ["--endpoint", d.query_url, "source", "reset", "wms"])
    ck.eq(r.returncode, 0, "atpctl source reset wms: %s" % r.stderr)
    r = harness.run_ctl(h, ["--endpoint", d.query_url, "source", "reset", "nope"])
    ck.check(r.returncode == 1 and "not_found" in r.stderr + r.stdout,
             "atpctl source reset nope: exit %d %r" % (r.returncode, r.stderr))
    settle(lambda: s("wms")["resets"] == 3, "three resets counted")

    # ---- 5. per-source keys
    def sig(elems, k=key):
        pub.send_payload(signed(k, elems))

    S = 4242
    rej0 = c.status()["ingest"]["rejected"]
    send([1, "signed", 1, now, [[2, "K", "L2", 0, 66]], S])             # no MAC
    sig([1, "signed", 1, now, [[2, "K", "L2", 0, 77]], S], b"x" * 32)   # wrong key
    tampered = bytearray(signed(key, [1, "signed", 1, now, [[2, "K", "L2", 0, 5]], S]))
    tampered[-40] ^= 1                                                   # a changed byte
    pub.send_payload(bytes(tampered))
    sig([2, "signed", 1, 0, now, 9, True, [[2, "K", "L2", 0, 88]], S], b"y" * 32)
    settle(lambda: s("signed")["bad_mac"] == 4, "four messages without a valid MAC")
    g = s("signed")
    ck.eq((g["last_seq"], g["messages"], g["session"], g["state"], supply("K")),
          (0, 0, 0, "waiting", 0),
          "nothing of them applied, no seq consumed, no session heard")
    ck.eq(c.status()["ingest"]["rejected"], rej0 + 4, "counted in status.ingest.rejected")
    ck.eq(metric(d, "atpd_source_bad_mac_total", "signed"), 4, "the bad_mac metric")
    sig([1, "signed", 1, now, [[2, "K", "L2", 0, 11]], S])
    settle(lambda: s("signed")["last_seq"] == 1, "the signed seq 1 applies")
    ck.eq((supply("K"), s("signed")["bad_mac"]), (11, 4), "signed message applied")

    # atp-feed signs with the config's key_file; a wrong --key-file is refused by atpd.
    rc = subprocess.run([h.feed_bin, "--config", d.config_path, "--endpoint", d.ingest_url,
                         "--control", d.cfg["service"]["control_listen"], "--source", "feed", "--messages", "20",
                         "--rate", "0", "--linger", "0", "--quiet", "--json"],
                        capture_output=True, text=True, timeout=60 * TF)
    ck.eq(rc.returncode, 0, "atp-feed signed run: %s" % rc.stderr[-300:])
    settle(lambda: s("feed")["last_seq"] == 21, "atp-feed's 20 messages and heartbeat applied")
    ck.eq(s("feed")["bad_mac"], 0, "atp-feed's MACs are valid")
    other, _ = write_key(h, "other.key")
    rc = subprocess.run([h.feed_bin, "--config", d.config_path, "--endpoint", d.ingest_url,
                         "--control", d.cfg["service"]["control_listen"], "--source", "feed", "--messages", "5",
                         "--rate", "0", "--linger", "0", "--quiet", "--key-file", other,
                         "--start-seq", "22"],
                        capture_output=True, text=True, timeout=60 * TF)
    ck.eq(rc.returncode, 0, "atp-feed --key-file run: %s" % rc.stderr[-300:])
    settle(lambda: s("feed")["bad_mac"] == 6, "atp-feed with another key: all 6 refused")
    ck.eq(s("feed")["last_seq"], 21, "nothing of the wrongly keyed run applied")
    # The case: a second atp-feed on a source another one feeds.
    def feed_argv(extra):
        return [h.feed_bin, "--config", d.config_path, "--endpoint", d.ingest_url,
                "--control", d.cfg["service"]["control_listen"], "--source", "wms2",
                "--quiet", "--json", "--linger", "0"] + extra
    out_a = os.path.join(h.tmp, "feed-a.json")
    with open(out_a, "w") as fa:
        pa = harness._spawn(feed_argv(["--rate", "100", "--duration", "%d" % int(4 * TF),
                                       "--batch", "5", "--seed", "1"]),
                            stdout=fa, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        settle(lambda: s("wms2")["last_seq"] > 0, "the first atp-feed on wms2 applies")
        rb = subprocess.run(feed_argv(["--rate", "100", "--messages", "40", "--seed", "2"]),
                            capture_output=True, text=True, timeout=60 * TF)
        try:
            rc_a = pa.wait(timeout=60 * TF)
        except subprocess.TimeoutExpired:
            harness._stop_pid(pa, 5)
            raise TestFailure("the first atp-feed did not finish")
    ck.eq((rc_a, rb.returncode), (0, 0), "both atp-feed runs: %s" % rb.stderr[-300:])
    a = harness.last_json(open(out_a).read())
    b = harness.last_json(rb.stdout)
    settle(lambda: s("wms2")["last_seq"] == a["sources"][0]["last_seq"],
           "every message of the first feed applied")
    w2 = s("wms2")
    ck.eq((w2["messages"], w2["duplicates"], w2["conflicts"], w2["session"]),
          (a["messages"], 0, b["sends"], a["session"]),
          "the first feed's messages all applied, none a duplicate; the second's "
          "all conflicts (messages, duplicates, conflicts, session)")
    d.stop()

    # ---- start-up refusals
    def check_config(extra_sources, **service):
        c2 = harness.build_config(h, ["r1"], [("L1", "r1")], extra_sources, **service)
        path = os.path.join(h.tmp, "check-%d.yaml" % len(os.listdir(h.tmp)))
        with open(path, "w") as f:
            f.write(harness.to_yaml(c2))
        p = subprocess.run([h.atpd_bin, "--check-config", path], capture_output=True,
                           text=True, timeout=30 * TF)
        return p.returncode, p.stderr

    loose, _ = write_key(h, "loose.key", 0o644)
    rc, err = check_config([dict(src("s", [(["L1"], ["on_hand"])]), key_file=loose)])
    ck.check(rc == 1 and "chmod 600" in err, "a key file others can read: exit %d %r" % (rc, err))
    rc, err = check_config([src("s", [(["L1"], ["on_hand"])])], ingest_listen="tcp://0.0.0.0:0")
    ck.check(rc == 1 and "has no key_file" in err and "allow_insecure" in err,
             "ingest beyond loopback, a source without a key: exit %d %r" % (rc, err))
    rc, err = check_config([dict(src("s", [(["L1"], ["on_hand"])]), key_file=key_path)],
                           ingest_listen="tcp://0.0.0.0:0")
    ck.eq(rc, 0, "ingest beyond loopback with every source keyed: %r" % err)
    # The same through atpd's --ingest-listen override: refused before it
    # binds anything or creates its data directory (never reaches 0.0.0.0).
    c3 = harness.build_config(h, ["r1"], [("L1", "r1")], [src("s", [(["L1"], ["on_hand"])])])
    c3["service"]["data_dir"] = os.path.join(h.tmp, "override-data")
    path = os.path.join(h.tmp, "override.yaml")
    with open(path, "w") as f:
        f.write(harness.to_yaml(c3))
    p = subprocess.run([h.atpd_bin, "--config", path, "--ingest-listen", "tcp://0.0.0.0:0"],
                       capture_output=True, text=True, timeout=30 * TF)
    ck.check(p.returncode == 1 and "has no key_file" in p.stderr,
             "--ingest-listen 0.0.0.0 with a keyless source refused: %d %r"
             % (p.returncode, p.stderr[-400:]))
    ck.check(not os.path.exists(c3["service"]["data_dir"]),
             "override refused before the data directory was created")
    ck.done()


if __name__ == "__main__":
    harness.run(main, "sec_sources")

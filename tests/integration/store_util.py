"""store_util.py - helpers shared by the store tests (test_store_*.py).

Standard library only; builds on harness.py (imported, never edited).

- Client: one raw SP REQ connection (harness.ReqClient) that reconnects on
  demand; req() returns the reply map, ok() insists on {"ok": true}.
- Feeder: publishes source messages ([1, source, seq, ts, events]) through
  harness.PubClient and waits until `sources` shows the seq applied.
- store_config(): a config dict with every socket on a free port (the
  control socket too), one region per location group, one source.
- inspect(): `atpctl inspect DATA_DIR --json` when this atpctl has it, else
  None; data_mdb_size(): the size of data.mdb.
- SmallFs: a small filesystem (tmpfs, else a loop-mounted ext4 image) that
  is always unmounted by its close(); skip_reason tells why none could be
  made.
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import mpack  # noqa: E402
from harness import ConnectionClosed, TestFailure  # noqa: E402

SCALE = 0.25 if harness.SANITIZER else 1.0

E_NOT_FOUND, E_STORE_FULL, E_IO = 19, 20, 17


def scaled(n, minimum=1):
    return max(minimum, int(round(n * SCALE)))


def error_code(reply):
    if isinstance(reply, dict) and reply.get("ok") is False:
        err = reply.get("error")
        if isinstance(err, dict):
            return err.get("code")
    return None


def error_name(reply):
    if isinstance(reply, dict) and reply.get("ok") is False:
        err = reply.get("error")
        if isinstance(err, dict):
            return err.get("name")
    return None


class Client:
    """A REQ connection to atpd's query socket; reconnects on demand."""

    def __init__(self, port, timeout_s=30.0):
        self.port = port
        self.timeout_s = timeout_s
        self.rq = None

    def close(self):
        if self.rq is not None:
            self.rq.close()
            self.rq = None

    def req(self, body, attempts=3):
        last = None
        for attempt in range(attempts):
            try:
                if self.rq is None:
                    self.rq = harness.ReqClient(self.port, timeout_s=self.timeout_s)
                return self.rq.request(body, timeout_s=self.timeout_s)
            except (ConnectionClosed, TimeoutError, OSError) as e:
                self.close()
                last = e
                time.sleep(0.2)
        raise TestFailure("atpd does not answer %r: %r" % (body.get("op"), last))

    def ok(self, body):
        r = self.req(body)
        if r.get("ok") is not True:
            raise TestFailure("%s failed: reply %r" % (body.get("op"), r))
        return r

    def status(self):
        return self.ok({"op": "status"})

    def atp(self, sku, region):
        return self.ok({"op": "atp", "sku": sku, "region": region})

    def reserve(self, rid, lines, ttl_ms=None):
        body = {"op": "reserve", "id": rid, "lines": [list(l) for l in lines]}
        if ttl_ms is not None:
            body["ttl_ms"] = ttl_ms
        return self.req(body)

    def get(self, rid):
        """The reservation object, or None when atpd says not_found."""
        r = self.req({"op": "reservation", "id": rid})
        if r.get("ok") is True:
            return r.get("reservation")
        if error_code(r) == E_NOT_FOUND:
            return None
        raise TestFailure("reservation %r: unexpected reply %r" % (rid, r))

    def snapshot(self):
        return self.req({"op": "snapshot"})


class Feeder:
    """Publishes source messages with a per-source sequence number."""

    def __init__(self, d, client):
        self.d = d
        self.client = client
        self.seq = {}
        self.pub = None

    def close(self):
        if self.pub is not None:
            self.pub.close()
            self.pub = None

    def reconnect(self):
        self.close()
        self.pub = harness.PubClient(self.d.ingest_port)
        time.sleep(0.1)  # the SUB side delivers once its pipe is set up

    def publish(self, source, events, wait=True, timeout_s=30):
        seq = self.seq.get(source, 0) + 1
        self.seq[source] = seq
        payload = mpack.packb([1, source, seq, int(time.time() * 1000), events])
        if self.pub is None:
            self.reconnect()
        try:
            self.pub.send_msg(payload)
        except ConnectionClosed:
            self.reconnect()
            self.pub.send_msg(payload)
        if wait:
            self.wait_applied(source, seq, timeout_s)
        return seq

    def wait_applied(self, source, seq, timeout_s=30):
        last = {}

        def f():
            self.d.check_alive()
            for s in self.client.ok({"op": "sources"})["sources"]:
                if s.get("id") == source:
                    last.update(s)
                    return (s.get("last_seq") or 0) >= seq
            return False
        try:
            harness.wait_until(f, timeout_s, 0.02, "source %s seq %d applied" % (source, seq))
        except TestFailure:
            raise TestFailure("source %s: seq %d not applied; atpd says %r" % (source, seq, last))


def store_config(h, data_dir=None, regions=("east",), locs_per_region=2, **resv):
    """Regions, locations <REGION>-<n>, one source `wms` authoritative for
    every bucket everywhere, channel web; reservations section from resv."""
    cfg = h.config()
    cfg["service"]["control_listen"] = "tcp://127.0.0.1:%d" % harness.free_ports(1)[0]
    if data_dir is not None:
        cfg["service"]["data_dir"] = data_dir
    cfg["regions"] = [{"id": r} for r in regions]
    locs = [("%s-%d" % (r, i), r) for r in regions for i in range(locs_per_region)]
    cfg["locations"] = [{"id": l, "region": r, "type": "dc"} for l, r in locs]
    cfg["channels"] = ["web"]
    cfg["sources"] = [{"id": "wms", "heartbeat_timeout": "1h",
                       "authority": [{"locations": [l for l, _ in locs],
                                      "buckets": ["on_hand", "allocated", "held"]}]}]
    if resv:
        cfg["reservations"] = dict(resv)
    return cfg


def inspect(h, data_dir):
    """`atpctl inspect DATA_DIR --json` as a dict, or None when this atpctl
    has no inspect command (or it failed)."""
    try:
        r = subprocess.run([h.atpctl_bin, "--json", "inspect", data_dir],
                           capture_output=True, text=True, timeout=60,
                           preexec_fn=harness._pdeathsig)
    except (subprocess.TimeoutExpired, OSError):
        return None
    if r.returncode != 0 or not r.stdout.strip():
        return None
    try:
        obj = json.loads(r.stdout.strip().splitlines()[-1])
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def data_mdb_size(data_dir):
    try:
        return os.path.getsize(os.path.join(data_dir, "data.mdb"))
    except OSError:
        return -1


def log_text(d):
    try:
        with open(d.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------
# a small filesystem


def _run(argv, timeout_s=30):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except (subprocess.TimeoutExpired, OSError) as e:
        return 1, str(e)
    return r.returncode, (r.stderr or r.stdout).strip()


class SmallFs:
    """A filesystem of size_mb MiB mounted on a fresh directory under base.
    Tries tmpfs, then an ext4 image on a loop device. mount() returns True,
    or False with skip_reason set. close() unmounts (lazily if busy) and
    detaches; call it in a finally, after every process using it stopped."""

    def __init__(self, base, size_mb=8):
        self.base = base
        self.size_mb = size_mb
        self.dir = os.path.join(base, "smallfs")
        self.kind = None
        self.image = None
        self.mounted = False
        self.skip_reason = None

    def mount(self):
        os.makedirs(self.dir, exist_ok=True)
        rc, err = _run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % self.size_mb,
                        "tmpfs", self.dir])
        if rc == 0:
            self.kind, self.mounted = "tmpfs", True
            return True
        reasons = ["tmpfs: %s" % (err or "mount exit %d" % rc)]
        if shutil.which("mkfs.ext4") is None:
            reasons.append("loop: mkfs.ext4 not installed")
        else:
            self.image = os.path.join(self.base, "smallfs.img")
            with open(self.image, "wb") as f:
                f.truncate(self.size_mb << 20)
            rc, err = _run(["mkfs.ext4", "-q", "-F", "-m", "0", self.image])
            if rc == 0:
                rc, err = _run(["mount", "-o", "loop", self.image, self.dir])
                if rc == 0:
                    self.kind, self.mounted = "ext4 on a loop device", True
                    return True
            reasons.append("loop: %s" % (err or "exit %d" % rc))
        self.skip_reason = "cannot mount a small filesystem (%s)" % "; ".join(reasons)
        return False

    def free_bytes(self):
        st = os.statvfs(self.dir)
        return st.f_bavail * st.f_frsize

    def fill(self, path, chunk=1 << 16, limit_bytes=None):
        """Writes path until the filesystem refuses (ENOSPC), ending with
        4 KiB then 512-byte writes so nothing is left. Returns bytes written."""
        import errno
        total = 0
        limit = limit_bytes if limit_bytes is not None else (self.size_mb + 8) << 20
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for size in (chunk, 4096, 512):
                buf = b"\xa5" * size
                while total < limit:
                    try:
                        n = os.write(fd, buf)
                    except OSError as e:
                        if e.errno in (errno.ENOSPC, errno.EDQUOT):
                            break
                        raise
                    if n <= 0:
                        break
                    total += n
            try:
                os.fsync(fd)
            except OSError:
                pass
        finally:
            os.close(fd)
        return total

    def close(self):
        if self.mounted:
            rc, err = _run(["umount", self.dir])
            if rc != 0:
                _run(["umount", "-l", self.dir])
            self.mounted = False
        if self.image is not None:
            try:
                os.unlink(self.image)
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass

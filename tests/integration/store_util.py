"""store_util.py - helpers shared by the store tests (test_store_*.py).

Standard library only; builds on harness.py (imported; the shared client,
publisher, config and process helpers live there).

- Client: one raw SP REQ connection (harness.ReqClient) that reconnects on
  demand; req() returns the reply map, ok() insists on {"ok": true}.
- Feeder: publishes source messages ([1, source, seq, ts, events]) through
  harness.PubClient and waits until `sources` shows the seq applied.
- store_config(): a config dict with every socket on a free port (the
  control socket too), one region per location group, one source.
- inspect(): `atpctl inspect DATA_DIR --json` as a dict; any failure of it
  fails the test. data_mdb_size(): the size of data.mdb.
- SmallFs: a small filesystem, tmpfs or an ext4 image on a loop device
  (where fsync writes and a nearly full disk gives short writes), always
  unmounted by its close(); mount() says False with skip_reason when the
  machine cannot mount it, mount_or_skip() ends the test as skipped then.
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure, error_code, error_name  # noqa: E402,F401

SCALE = 0.25 if harness.SANITIZER else 1.0

E_NOT_FOUND, E_STORE_FULL, E_IO = 19, 20, 17


def scaled(n, minimum=1):
    return harness.scaled(n, SCALE, minimum)


class Client(harness.Client):
    """harness.Client with a longer default timeout (a full disk is slow)."""

    def __init__(self, port, timeout_s=30.0):
        super().__init__(port, timeout_s)


class Feeder(harness.Publisher):
    """Publishes source messages with a per-source sequence number."""

    def reconnect(self):
        self.connect()

    def publish(self, source, events, wait=True, timeout_s=30):
        seq, payload = self.next_batch(source, events)
        self.send_payload(payload)
        if wait:
            self.wait_applied(source, seq, timeout_s)
        return seq


def store_config(h, data_dir=None, regions=("east",), locs_per_region=2, **resv):
    """Regions, locations <REGION>-<n>, one source `wms` authoritative for
    every bucket everywhere, channel web; reservations section from resv."""
    service = {} if data_dir is None else {"data_dir": data_dir}
    locs = [("%s-%d" % (r, i), r) for r in regions for i in range(locs_per_region)]
    src = harness.source_entry("wms", [([l for l, _ in locs], ["on_hand", "allocated", "held"])],
                               heartbeat_timeout="1h")
    return harness.build_config(h, regions, locs, [src], ["web"], None, resv, **service)


def inspect(h, data_dir):
    """`atpctl inspect DATA_DIR --json` as a dict. A failure of inspect
    (exit status, no JSON object) fails the test: the LMDB-level checks
    that use it must not silently disappear."""
    r = harness.run_ctl(h, ["--json", "inspect", data_dir], timeout_s=60)
    obj = harness.last_json(r.stdout)
    if r.returncode != 0 or not isinstance(obj, dict):
        raise TestFailure("atpctl inspect %s failed: exit %d, stdout %r, stderr %r"
                          % (data_dir, r.returncode, r.stdout[-500:], r.stderr[-500:]))
    return obj


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
    kind "tmpfs": a tmpfs (fsync does nothing, writes never come up short);
    kind "ext4": an ext4 image on a loop device (mkfs.ext4 from e2fsprogs),
    where fdatasync writes and a nearly full disk gives short writes (EIO
    from LMDB). mount() returns True, or False with skip_reason set;
    mount_or_skip() ends the test as skipped instead (harness.skip). close()
    unmounts (lazily if busy) and detaches; call it in a finally, after
    every process using it stopped."""

    KINDS = ("tmpfs", "ext4")

    def __init__(self, base, size_mb=8, kind="tmpfs"):
        if kind not in self.KINDS:
            raise ValueError("SmallFs kind %r, want one of %s" % (kind, self.KINDS))
        self.base = base
        self.size_mb = size_mb
        self.want = kind
        self.dir = os.path.join(base, "smallfs-" + kind)
        self.kind = None
        self.image = None
        self.mounted = False
        self.skip_reason = None

    def mount(self):
        os.makedirs(self.dir, exist_ok=True)
        err = self._mount_tmpfs() if self.want == "tmpfs" else self._mount_ext4()
        if self.mounted:
            self.kind = self.want
            return True
        self.skip_reason = "cannot mount a %d MiB %s on %s: %s" % (self.size_mb, self.want,
                                                                self.dir, err)
        return False

    def mount_or_skip(self):
        if not self.mount():
            harness.skip(self.skip_reason)

    def _mount_tmpfs(self):
        rc, err = _run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % self.size_mb,
                        "tmpfs", self.dir])
        self.mounted = rc == 0
        return err or "mount exit %d" % rc

    def _mount_ext4(self):
        if shutil.which("mkfs.ext4") is None:
            return "mkfs.ext4 not installed (e2fsprogs)"
        self.image = os.path.join(self.base, "smallfs-ext4.img")
        with open(self.image, "wb") as f:
            f.truncate(self.size_mb << 20)
        # -m 0: no blocks reserved for root (the test runs as root and must
        # see the disk full).
        rc, err = _run(["mkfs.ext4", "-q", "-F", "-m", "0", self.image])
        if rc != 0:
            return "mkfs.ext4: %s" % (err or "exit %d" % rc)
        rc, err = _run(["mount", "-o", "loop", self.image, self.dir])
        self.mounted = rc == 0
        return "mount -o loop: %s" % (err or "exit %d" % rc)

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

"""harness.py - start the real atpd, atpctl and atp-feed on free loopback ports.

Standard library only. Every child process is started by this module, kept
in a registry, and stopped by its pid: at the end of a test, on an exception,
at interpreter exit (atexit), on SIGTERM/SIGINT, and -- through
PR_SET_PDEATHSIG -- even when this Python process is killed outright (ctest
timeout). Every wait is bounded in time.

Typical use (see test_model.py):

    def main(h):                       # h: harness.Harness
        cfg = harness.base_config()    # dict written as YAML
        d = h.start_atpd(cfg)
        st = d.ctl("status")           # parsed JSON reply, asserts ok
        ...
    harness.run(main, "model")
"""

import argparse
import atexit
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import msgpack  # noqa: E402

SANITIZER = os.environ.get("ATP_TEST_SCALE", "") == "sanitizer"
# The coverage build (gcc --coverage -O0, atomic counters; scripts/coverage.sh
# sets ATP_TEST_SCALE=coverage) is several times slower too, with jemalloc.
COVERAGE = os.environ.get("ATP_TEST_SCALE", "") == "coverage"
SLOW = SANITIZER or COVERAGE
# Slow builds: stretch every wait (tests shrink their load by SLOW or SANITIZER).
TIME_FACTOR = 4.0 if SLOW else 1.0


class TestFailure(AssertionError):
    pass


# ctest's SKIP_RETURN_CODE for the integration tests (tests/CMakeLists.txt).
SKIP_EXIT = 77
# Set where every test can run (CI as root, see .ci/run and the Makefile):
# a test that would skip fails instead.
REQUIRE_ALL = os.environ.get("ATP_REQUIRE_ALL", "") == "1"


class TestSkipped(Exception):
    """Raised by skip(): the test cannot run on this machine."""


def skip(reason):
    """End the test as skipped (exit 77, which ctest reports as Skipped,
    never as Passed); with ATP_REQUIRE_ALL=1 a failure instead."""
    raise TestSkipped(reason)


# ---------------------------------------------------------------------------
# child processes: registry and cleanup

_children = []  # subprocess.Popen objects started by this module


def _pdeathsig():
    """preexec_fn: the child gets SIGKILL if this process dies (even kill -9)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _spawn(argv, **kw):
    p = subprocess.Popen(argv, preexec_fn=_pdeathsig, **kw)
    _children.append(p)
    return p


def _stop_pid(p, grace_s):
    """SIGTERM, bounded wait, then SIGKILL. Returns the exit status
    (-9 when it had to be killed)."""
    if p.poll() is None:
        try:
            os.kill(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)
    return p.returncode


def _cleanup_all():
    for p in list(_children):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    _cleanup_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


# ---------------------------------------------------------------------------
# small utilities


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound to port 0, then released)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    return "\n".join(data.splitlines()[-lines:])


def wait_until(pred, timeout_s, interval_s=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; bounded by timeout_s (scaled)."""
    deadline = time.monotonic() + timeout_s * TIME_FACTOR
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.1f s waiting for %s"
                              % (timeout_s * TIME_FACTOR, what))
        time.sleep(interval_s)


def now_ms():
    return int(time.time() * 1000)


def scaled(n, scale, minimum=1):
    """n scaled by scale (a module's SCALE for sanitizer builds), at least minimum."""
    return max(minimum, int(round(n * scale)))


def _error_field(reply, field):
    if isinstance(reply, dict) and reply.get("ok") is False:
        err = reply.get("error")
        if isinstance(err, dict):
            return err.get(field)
    return None


def error_code(reply):
    """The error code of a failed reply (or None)."""
    return _error_field(reply, "code")


def error_name(reply):
    """The error name of a failed reply (or None)."""
    return _error_field(reply, "name")


# ---------------------------------------------------------------------------
# YAML (block style; plain scalars when safe, double-quoted otherwise)

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./:+-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _yscalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS and not s.endswith(":"):
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def _is_scalar(v):
    return not isinstance(v, (dict, list, tuple))


def to_yaml(obj, indent=0):
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if _is_scalar(v):
                out.append("%s%s: %s" % (pad, k, _yscalar(v)))
            elif isinstance(v, (list, tuple)) and all(_is_scalar(x) for x in v):
                out.append("%s%s: [%s]" % (pad, k, ", ".join(_yscalar(x) for x in v)))
            elif isinstance(v, dict) and not v:
                out.append("%s%s: {}" % (pad, k))
            else:
                out.append("%s%s:" % (pad, k))
                out.append(to_yaml(v, indent + 2))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            if _is_scalar(v):
                out.append("%s- %s" % (pad, _yscalar(v)))
            else:
                sub = to_yaml(v, indent + 2)
                out.append("%s- %s" % (pad, sub.lstrip(" ")))
    else:
        out.append(pad + _yscalar(obj))
    return "\n".join(out)


# ---------------------------------------------------------------------------
# binaries


def write_faults(path, text):
    """Replace the store fault file atomically (atpd-faults reads it at
    every fault point: src/store/fault.h)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def use_store_faults(h):
    """Run atpd-faults instead of atpd from now on, with an empty fault
    file that atpd inherits through ATP_STORE_FAULTS; returns its path."""
    h.atpd_bin = find_binary(h.bin_dir, "atpd-faults")
    path = os.path.join(h.tmp, "faults")
    write_faults(path, "")
    os.environ["ATP_STORE_FAULTS"] = path
    return path


def find_binary(bin_dir, name):
    for rel in (name, os.path.join("tools", name, name), os.path.join("bin", name),
                os.path.join("tools", name), os.path.join("src", name)):
        p = os.path.join(bin_dir, rel)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    for root, dirs, files in os.walk(bin_dir):
        dirs[:] = [d for d in dirs if d not in ("CMakeFiles", "Testing")]
        if name in files:
            p = os.path.join(root, name)
            if os.access(p, os.X_OK):
                return p
    raise TestFailure("binary %s not found under %s (build the tree first)" % (name, bin_dir))


# ---------------------------------------------------------------------------
# atpctl


def run_ctl(h, args, stdin=None, timeout_s=30):
    """Run atpctl ARGS (bounded by timeout_s, scaled); returns the
    subprocess.CompletedProcess (text mode)."""
    argv = [h.atpctl_bin] + [str(a) for a in args]
    try:
        return subprocess.run(argv, input=stdin, capture_output=True,
                              timeout=timeout_s * TIME_FACTOR, preexec_fn=_pdeathsig,
                              text=True)
    except subprocess.TimeoutExpired:
        raise TestFailure("atpctl %s timed out after %.0f s" % (" ".join(map(str, args)),
                                                                timeout_s * TIME_FACTOR))


def last_json(text):
    """The last line of text parsed as JSON, or None."""
    out = (text or "").strip()
    if not out:
        return None
    try:
        return json.loads(out.splitlines()[-1])
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# atpd


# service keys of the listening sockets -> their keys in atpd's ready file
_READY_KEYS = {"query_listen": "query", "ingest_listen": "ingest",
               "feed_listen": "feed", "control_listen": "control"}


class Atpd:
    """One running atpd. Stop it with stop(); cleanup is also automatic.

    Its sockets listen where cfg says; harness.config() says port 0, so the
    system picks free ports and nothing can take them between choosing and
    binding. atpd writes them to its --ready-file once every socket
    listens; start() waits for that file and puts the bound URLs into cfg
    (the same dict the test holds) and into the config file, so that a
    restart, atp-feed --config and every client use the same ports."""

    def __init__(self, h, cfg, name):
        self.h = h
        self.cfg = cfg
        self.dir = os.path.join(h.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "atpd.yaml")
        self.ready_path = os.path.join(self.dir, "atpd.ready")
        self.stderr_path = os.path.join(self.dir, "atpd.stderr")
        self.stdout_path = os.path.join(self.dir, "atpd.stdout")
        self.proc = None
        self.ready = None
        self._write_config()
        self._set_urls()

    def _write_config(self):
        with open(self.config_path, "w") as f:
            f.write("# written by tests/integration/harness.py\n")
            f.write(to_yaml(self.cfg) + "\n")

    def _set_urls(self):
        svc = self.cfg["service"]
        self.query_url = svc["query_listen"]
        self.ingest_url = svc["ingest_listen"]
        self.query_port = int(self.query_url.rsplit(":", 1)[1])
        self.ingest_port = int(self.ingest_url.rsplit(":", 1)[1])

    def start(self, ready_timeout_s=30):
        """Start atpd and wait (bounded, scaled) until its ready file says
        every socket listens. A restart binds the ports of the first start."""
        self.spawn()
        return self.wait_ready(ready_timeout_s)

    def spawn(self):
        """Start atpd without waiting for it (then wait_ready). From the
        main thread: atpd dies with the thread that spawned it (PDEATHSIG)."""
        self._write_config()
        try:
            os.unlink(self.ready_path)
        except FileNotFoundError:
            pass
        errf = open(self.stderr_path, "ab")
        outf = open(self.stdout_path, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
            self.h.source_dir, "tests", "lsan", "suppressions.txt"))
        self.proc = _spawn([self.h.atpd_bin, "--config", self.config_path,
                            "--ready-file", self.ready_path],
                           cwd=self.dir, stdin=subprocess.DEVNULL,
                           stdout=outf, stderr=errf, env=env)
        errf.close()
        outf.close()
        if self not in self.h.daemons:  # a restart keeps it registered once
            self.h.daemons.append(self)

    def wait_ready(self, ready_timeout_s=30):
        """Wait (bounded, scaled) for the ready file of the atpd spawned."""
        def ready():
            self.check_alive()
            try:
                with open(self.ready_path) as f:
                    return json.load(f)
            except FileNotFoundError:
                return None
        self.ready = wait_until(ready, ready_timeout_s, 0.02, "atpd's ready file")
        if self.ready.get("pid") != self.proc.pid:
            raise TestFailure("ready file %s names pid %r, atpd is %d"
                              % (self.ready_path, self.ready.get("pid"), self.proc.pid))
        for key, rkey in _READY_KEYS.items():
            self.cfg["service"][key] = self.ready[rkey]
        self._set_urls()
        self._write_config()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            raise TestFailure("atpd (pid %d) exited with status %s; stderr tail:\n%s"
                              % (self.proc.pid, self.proc.returncode,
                                 tail(self.stderr_path)))

    def kill9(self):
        """kill -9 atpd by pid and reap it (bounded); returns the exit status."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc is not None else None

    def stop(self, expect_clean=True, grace_s=30):
        """SIGTERM atpd by pid; returns the exit status. With expect_clean,
        anything but 0 (or a sanitizer report) fails the test; not exiting
        within grace_s (scaled; a clean stop takes well under a second
        here) is reported as a shutdown hang."""
        if self.proc is None:
            return None
        was_alive = self.proc.poll() is None
        t = time.monotonic()
        rc = _stop_pid(self.proc, grace_s * TIME_FACTOR)
        if expect_clean:
            if not was_alive:
                raise TestFailure("atpd died before the test stopped it (status %s); stderr:\n%s"
                                  % (rc, tail(self.stderr_path)))
            if rc == -signal.SIGKILL:
                raise TestFailure("atpd (pid %d) did not exit within %.0f s of SIGTERM (a "
                                  "shutdown hang; killed); stderr:\n%s"
                                  % (self.proc.pid, time.monotonic() - t,
                                     tail(self.stderr_path)))
            if rc != 0:
                raise TestFailure("atpd exited with status %s on SIGTERM; stderr:\n%s"
                                  % (rc, tail(self.stderr_path)))
            self.check_sanitizer()
        return rc

    def check_sanitizer(self):
        try:
            with open(self.stderr_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return
        for pat in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                    "runtime error:", "ThreadSanitizer"):
            if pat in text:
                raise TestFailure("sanitizer report in atpd's stderr (%s):\n%s"
                                  % (pat, tail(self.stderr_path, 80)))

    # ---- atpctl

    def ctl_raw(self, *args, stdin=None, timeout_s=30):
        """Run atpctl --endpoint <query> --json ARGS. Returns (rc, obj, stderr)
        where obj is the parsed JSON line (or None)."""
        r = run_ctl(self.h, ["--endpoint", self.query_url, "--json"] + list(args),
                    stdin=stdin, timeout_s=timeout_s)
        return r.returncode, last_json(r.stdout), r.stderr

    def ctl(self, *args, stdin=None, timeout_s=30):
        """atpctl that must succeed (exit 0, ok: true); returns the reply map."""
        rc, obj, err = self.ctl_raw(*args, stdin=stdin, timeout_s=timeout_s)
        if rc != 0 or not isinstance(obj, dict) or obj.get("ok") is not True:
            self.check_alive()
            raise TestFailure("atpctl %s failed: exit %d, reply %s, stderr %s"
                              % (" ".join(map(str, args)), rc,
                                 json.dumps(obj)[:2000] if obj is not None else "(none)",
                                 err.strip()[:2000]))
        return obj

    def sources(self):
        return {s["id"]: s for s in self.ctl("sources")["sources"]}

    # ---- atp-feed

    def feed(self, args, timeout_s=300, log_name="feed"):
        """Run atp-feed against this atpd; waits for it (bounded)."""
        argv = [self.h.feed_bin, "--config", self.config_path,
                "--endpoint", self.ingest_url] + [str(a) for a in args]
        out = os.path.join(self.dir, log_name + ".out")
        with open(out, "wb") as f:
            p = _spawn(argv, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=f,
                       stderr=subprocess.STDOUT)
            try:
                rc = p.wait(timeout=timeout_s * TIME_FACTOR)
            except subprocess.TimeoutExpired:
                _stop_pid(p, 5)
                raise TestFailure("atp-feed timed out after %.0f s: %s\n%s"
                                  % (timeout_s * TIME_FACTOR, " ".join(argv), tail(out)))
        if rc != 0:
            raise TestFailure("atp-feed exited %d: %s\n%s" % (rc, " ".join(argv), tail(out)))
        return out


# ---------------------------------------------------------------------------
# raw SP over TCP (nng's TCP transport), for hostile input

SP_REQ, SP_REP, SP_PUB, SP_SUB = 0x30, 0x31, 0x20, 0x21


class ConnectionClosed(Exception):
    pass


class SPConn:
    """One SP-over-TCP connection: 8-byte handshake, then 64-bit BE length-
    prefixed messages."""

    def __init__(self, port, proto, peer_proto, timeout_s=5.0, handshake=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s * TIME_FACTOR)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.proto = proto
        self.peer_proto = peer_proto
        if handshake:
            self.sock.sendall(b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00")
            hdr = self._recv_exact(8, timeout_s)
            if hdr[:4] != b"\x00SP\x00" or struct.unpack(">H", hdr[4:6])[0] != peer_proto:
                raise TestFailure("bad SP handshake from peer: %r" % hdr)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def _recv_exact(self, n, timeout_s):
        deadline = time.monotonic() + timeout_s * TIME_FACTOR
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no data within %.1f s" % (timeout_s * TIME_FACTOR))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(n - len(buf))
            except socket.timeout:
                raise TimeoutError("no data within %.1f s" % (timeout_s * TIME_FACTOR))
            except (ConnectionResetError, BrokenPipeError):
                raise ConnectionClosed()
            if not chunk:
                raise ConnectionClosed()
            buf += chunk
        return bytes(buf)

    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            raise ConnectionClosed()

    def send_msg(self, payload):
        self.send_raw(struct.pack(">Q", len(payload)) + payload)

    def recv_msg(self, timeout_s=5.0):
        n = struct.unpack(">Q", self._recv_exact(8, timeout_s))[0]
        return self._recv_exact(n, timeout_s)

    def closed_by_peer(self, timeout_s=5.0):
        """True when the peer closes the connection within timeout_s."""
        deadline = time.monotonic() + timeout_s * TIME_FACTOR
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if r:
                try:
                    self.sock.settimeout(0.5)
                    if not self.sock.recv(65536):
                        return True
                except (ConnectionResetError, BrokenPipeError):
                    return True
                except socket.timeout:
                    pass
        return False


class ReqClient(SPConn):
    """A REQ peer: request(bytes) -> decoded reply."""

    _next_id = int(time.time() * 1000) & 0x7fffffff

    def __init__(self, port, timeout_s=5.0):
        super().__init__(port, SP_REQ, SP_REP, timeout_s)

    def request_raw(self, body, timeout_s=10.0):
        ReqClient._next_id = (ReqClient._next_id + 1) & 0x7fffffff
        rid = 0x80000000 | ReqClient._next_id
        self.send_msg(struct.pack(">I", rid) + body)
        for _ in range(16):  # skip stale replies, bounded
            msg = self.recv_msg(timeout_s)
            if len(msg) < 4:
                raise TestFailure("reply shorter than its request id: %r" % msg)
            if struct.unpack(">I", msg[:4])[0] == rid:
                return msg[4:]
        raise TestFailure("no reply with request id 0x%08x" % rid)

    def request(self, body, timeout_s=10.0):
        """body: bytes (sent as is) or a Python value (msgpack-encoded)."""
        if not isinstance(body, (bytes, bytearray)):
            body = msgpack.packb(body)
        raw = self.request_raw(body, timeout_s)
        try:
            reply = msgpack.unpackb(raw, strict_map_key=False)
        except ValueError as e:
            raise TestFailure("reply is not msgpack (%s): %r" % (e, raw[:200]))
        if not isinstance(reply, dict):
            raise TestFailure("reply is not a map: %r" % (reply,))
        return reply


class PubClient(SPConn):
    """A PUB peer dialing atpd's SUB socket."""

    def __init__(self, port, timeout_s=5.0):
        super().__init__(port, SP_PUB, SP_SUB, timeout_s)


# ---------------------------------------------------------------------------
# a reconnecting query client and a source publisher (shared by the *_util.py)


class Client:
    """A REQ connection to atpd's query socket; reconnects on demand.
    req() returns the reply map, ok() insists on {"ok": true}. One per
    thread. d (optional): the Atpd, checked for life when it stops answering."""

    def __init__(self, port, timeout_s=10.0, d=None):
        self.port = port
        self.timeout_s = timeout_s
        self.d = d
        self.rq = None

    def close(self):
        if self.rq is not None:
            self.rq.close()
            self.rq = None

    def connect(self):
        if self.rq is None:
            self.rq = ReqClient(self.port, timeout_s=self.timeout_s)

    def req_once(self, body):
        """One attempt, no retry: raises ConnectionClosed/TimeoutError/OSError
        when atpd is gone (the connection is dropped then)."""
        try:
            self.connect()
            return self.rq.request(body, timeout_s=self.timeout_s)
        except (ConnectionClosed, TimeoutError, OSError):
            self.close()
            raise

    def req(self, body, attempts=3):
        for attempt in range(attempts):
            try:
                return self.req_once(body)
            except (ConnectionClosed, TimeoutError, OSError) as e:
                if attempt == attempts - 1:
                    if self.d is not None:
                        self.d.check_alive()
                    raise TestFailure("atpd does not answer %r: %r" % (body.get("op"), e))
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def ok(self, body):
        r = self.req(body)
        if r.get("ok") is not True:
            raise TestFailure("%s failed: request %r, reply %r" % (body.get("op"), body, r))
        return r

    # ---- shorthands
    def status(self):
        return self.ok({"op": "status"})

    def sources(self):
        """{source id: source map} of `sources`."""
        return {s["id"]: s for s in self.ok({"op": "sources"})["sources"]}

    def atp(self, sku, region, channel=None):
        body = {"op": "atp", "sku": sku, "region": region}
        if channel is not None:
            body["channel"] = channel
        return self.ok(body)

    def snapshot(self):
        return self.req({"op": "snapshot"})

    def get(self, rid, not_found=19):
        """The reservation object, or None when atpd says not_found."""
        r = self.req({"op": "reservation", "id": rid})
        if r.get("ok") is True:
            return r.get("reservation")
        if error_code(r) == not_found:
            return None
        raise TestFailure("reservation %r: unexpected reply %r" % (rid, r))

    def reserve(self, rid, lines, channel=None, ttl_ms=None):
        body = {"op": "reserve", "id": rid, "lines": [list(l) for l in lines]}
        if channel is not None:
            body["channel"] = channel
        if ttl_ms is not None:
            body["ttl_ms"] = ttl_ms
        return self.req(body)


class Publisher:
    """Source messages [1, source, seq, ts, events] over one PUB connection
    to d's ingest socket, with per-source sequence numbers; wait_applied()
    polls `sources` through client (a Client) until atpd applied a seq."""

    def __init__(self, d, client=None):
        self.d = d
        self.client = client
        self.seq = {}        # source -> last seq sent
        self.pub = None

    def _drop_pub(self):
        if self.pub is not None:
            self.pub.close()
            self.pub = None

    def close(self):
        self._drop_pub()

    def connect(self):
        self._drop_pub()  # not close(): a subclass's close() may do more
        # No wait needed: PubClient returns after atpd's side of the SP
        # handshake, and what is sent from then on waits in the kernel
        # until atpd's SUB pipe reads it (nothing is lost before it starts).
        self.pub = PubClient(self.d.ingest_port)

    def send_payload(self, payload):
        """Send one encoded message, (re)connecting when needed."""
        if self.pub is None:
            self.connect()
        try:
            self.pub.send_msg(payload)
        except (ConnectionClosed, OSError):
            self.connect()
            self.pub.send_msg(payload)

    def next_batch(self, source, events):
        """(seq, payload) of the next message of source."""
        seq = self.seq.get(source, 0) + 1
        self.seq[source] = seq
        return seq, msgpack.packb([1, source, seq, now_ms(), events])

    def wait_applied(self, source, seq=None, timeout_s=30):
        """Until `sources` shows seq (default: the last sent) applied."""
        seq = self.seq.get(source, 0) if seq is None else seq
        last = {}

        def f():
            self.d.check_alive()
            s = self.client.sources().get(source) or {}
            last.update(s)
            return (s.get("last_seq") or 0) >= seq
        try:
            wait_until(f, timeout_s, 0.02, "source %s seq %d applied" % (source, seq))
        except TestFailure:
            raise TestFailure("source %s: seq %d not applied; atpd says %r" % (source, seq, last))


def build_config(h, regions, locations, sources, channels=("web",), buffers=None,
                 reservations=None, **service):
    """A config dict from h.config(**service) (every socket on a free port):
    regions [id or region dict]; locations [(id, region)] (type dc);
    sources [source dicts as in the YAML]; buffers [rule dicts];
    reservations: the reservations section."""
    cfg = h.config(**service)
    cfg["regions"] = [r if isinstance(r, dict) else {"id": r} for r in regions]
    cfg["locations"] = [{"id": i, "region": r, "type": "dc"} for i, r in locations]
    cfg["channels"] = list(channels)
    cfg["sources"] = [dict(s) for s in sources]
    if buffers:
        cfg["buffers"] = list(buffers)
    if reservations:
        cfg["reservations"] = dict(reservations)
    return cfg


def source_entry(sid, authority, heartbeat_timeout="10m"):
    """A source dict: authority [(locations, buckets)]."""
    return {"id": sid, "heartbeat_timeout": heartbeat_timeout,
            "authority": [{"locations": list(ls), "buckets": list(bs)} for ls, bs in authority]}


# ---------------------------------------------------------------------------
# the test runner


class Harness:
    def __init__(self, args, name):
        self.args = args
        self.name = name
        self.bin_dir = os.path.abspath(args.bin_dir)
        self.source_dir = os.path.abspath(args.source_dir)
        self.atpd_bin = find_binary(self.bin_dir, "atpd")
        self.atpctl_bin = find_binary(self.bin_dir, "atpctl")
        try:
            self.feed_bin = find_binary(self.bin_dir, "atp-feed")
        except TestFailure:
            self.feed_bin = None
        self.tmp = tempfile.mkdtemp(prefix="atp-itest-%s-" % name)
        self.daemons = []
        self.n_configs = 0
        self.t0 = time.monotonic()

    def config(self, **service):
        """A config dict with every socket on port 0 (atpd reports the ports
        the system chose, see Atpd) and a fresh data dir in the temp dir;
        the caller fills regions, locations, channels, sources, buffers."""
        self.n_configs += 1
        svc = {key: "tcp://127.0.0.1:0" for key in _READY_KEYS}
        svc["data_dir"] = os.path.join(self.tmp, "data-%d" % self.n_configs)
        svc.update(service)
        return {"service": svc}

    def start_atpd(self, cfg, name="atpd", ready_timeout_s=30):
        return Atpd(self, cfg, name).start(ready_timeout_s)

    def log(self, fmt, *a):
        msg = fmt % a if a else fmt
        print("[%7.2fs] %s" % (time.monotonic() - self.t0, msg), flush=True)


class Checks:
    """Collects failed expectations so one run reports many of them."""

    def __init__(self, h, limit=40):
        self.h = h
        self.failures = []
        self.count = 0
        self.limit = limit

    def check(self, cond, fmt, *a):
        self.count += 1
        if not cond:
            msg = fmt % a if a else fmt
            self.failures.append(msg)
            if len(self.failures) <= self.limit:
                print("  FAIL: " + msg, flush=True)
        return bool(cond)

    def eq(self, got, want, what):
        return self.check(got == want, "%s: got %r, want %r", what, got, want)

    def done(self):
        if self.failures:
            raise TestFailure("%d of %d checks failed (first: %s)"
                              % (len(self.failures), self.count, self.failures[0]))


def run(main, name):
    """Parse --bin-dir/--source-dir, run main(harness), report, exit."""
    ap = argparse.ArgumentParser(description="atpd integration test: " + name)
    ap.add_argument("--bin-dir", required=True, help="CMake build directory")
    ap.add_argument("--source-dir", default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir even on success")
    args = ap.parse_args()
    h = None
    ok = False
    skipped = None
    try:
        h = Harness(args, name)
        h.log("%s: temp dir %s, scale %s", name, h.tmp, "sanitizer" if SANITIZER else "normal")
        main(h)
        ok = True
    except TestSkipped as e:
        if REQUIRE_ALL:
            print("\n=== FAIL %s: it would skip (%s), and ATP_REQUIRE_ALL=1 says every "
                  "test must run here" % (name, e), flush=True)
        else:
            skipped = str(e)
            ok = True
    except Exception as e:
        print("\n=== FAIL %s: %s" % (name, e), flush=True)
        if not isinstance(e, TestFailure):
            traceback.print_exc()
        if h is not None:
            for d in h.daemons:
                print("--- atpd stderr tail (%s, pid %s, %s) ---"
                      % (d.stderr_path, d.pid, "alive" if d.alive() else
                         "exited %s" % d.proc.returncode))
                print(tail(d.stderr_path, 60))
    finally:
        if h is not None:
            for d in h.daemons:
                if d.alive():
                    _stop_pid(d.proc, 5)
        _cleanup_all()
    if h is not None:
        if ok and not args.keep:
            shutil.rmtree(h.tmp, ignore_errors=True)
        else:
            print("temp dir kept: %s" % h.tmp)
        print("%s %s in %.1f s" % ("FAIL" if not ok else "SKIPPED" if skipped else "PASS",
                                   name, time.monotonic() - h.t0))
    if skipped is not None:
        print("SKIPPED: %s" % skipped, flush=True)
        sys.exit(SKIP_EXIT)
    sys.exit(0 if ok else 1)

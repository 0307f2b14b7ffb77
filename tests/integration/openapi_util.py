"""openapi_util.py - what test_http_openapi, _conformance, _curl and
_slowloris share: atpd with its HTTP listener on a free loopback port, a
keep-alive JSON client that keeps every reply (status, headers, raw body),
an SSE reader, and docs/openapi.yaml loaded as JSON Schema (Draft 2020-12,
as OpenAPI 3.1). http_util.py has the helpers of the route tests.

Debian packages only: python3-yaml, python3-jsonschema.
"""

import http.client
import json
import os
import re
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402
from http_util import q as seg  # noqa: E402,F401 (a path segment, percent-encoded)

try:
    import yaml
    from jsonschema import Draft202012Validator, RefResolver
except ImportError as e:  # pragma: no cover - a machine without the packages
    yaml = None
    _IMPORT_ERROR = e
else:
    _IMPORT_ERROR = None

# Where atpd's ready file reports the bound HTTP URL (docs/HTTP.md).
READY_KEY = "http"


def require_packages():
    if _IMPORT_ERROR is not None:
        raise TestFailure("python3-yaml and python3-jsonschema are needed "
                          "(scripts/install-deps.sh): %s" % _IMPORT_ERROR)


def start_atpd(h, cfg, name="atpd"):
    """Start atpd with HTTP on 127.0.0.1 port 0; returns (d, base_url)."""
    cfg["service"].setdefault("http_listen", "http://127.0.0.1:0")
    d = h.start_atpd(cfg, name=name)
    url = d.ready.get(READY_KEY)
    if not isinstance(url, str) or not url.startswith("http://127.0.0.1:"):
        raise TestFailure("atpd's ready file has no bound HTTP URL under %r: %r"
                          % (READY_KEY, d.ready))
    return d, url.rstrip("/")


def query(params):
    """'?k=v&...' for the params that are not None ('' when none)."""
    items = [(k, v) for k, v in params.items() if v is not None]
    return "?" + urllib.parse.urlencode(items) if items else ""


class Reply:
    """One HTTP answer: status, headers (lower-case names), raw body and the
    body parsed as JSON (None when it is not JSON)."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            self.json = None

    def error(self):
        """(code, name) of an error reply, or None."""
        if isinstance(self.json, dict) and self.json.get("ok") is False:
            e = self.json.get("error") or {}
            return e.get("code"), e.get("name")
        return None

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.raw[:600].decode("utf-8", "replace"))


class Http:
    """A keep-alive HTTP/1.1 client of one atpd (reconnects once when the
    server closed the connection in between)."""

    def __init__(self, base_url, timeout_s=10.0):
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port = u.hostname, u.port
        self.timeout_s = timeout_s * harness.TIME_FACTOR
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, raw=None, headers=None):
        """body: a value sent as JSON; raw: bytes sent as they are."""
        data = raw if raw is not None else (
            json.dumps(body).encode("utf-8") if body is not None else None)
        hdrs = {"Accept": "application/json"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=self.timeout_s)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                payload = r.read()
                hd = {k.lower(): v for k, v in r.getheaders()}
                if r.will_close:
                    self.close()
                return Reply(r.status, hd, payload)
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError, http.client.CannotSendRequest):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, raw=None):
        return self.request("POST", path, body=body, raw=raw)


# ---------------------------------------------------------------------------
# docs/openapi.yaml


class OpenApi:
    """docs/openapi.yaml: operations by operationId, response validation,
    and the error table (code, name, status) of its E_<name> schemas."""

    METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

    def __init__(self, source_dir):
        require_packages()
        self.path = os.path.join(source_dir, "docs", "openapi.yaml")
        with open(self.path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.resolver = RefResolver("", self.doc)
        self.ops = {}  # operationId -> (path, method, operation)
        for path, item in self.doc["paths"].items():
            for m in self.METHODS:
                if m in item:
                    self.ops[item[m]["operationId"]] = (path, m.upper(), item[m])
        # Until PROTOCOL.md's "Sequences across restarts" says otherwise,
        # change-feed sequences start at (start time in ms) x 2^20, about
        # 1.9e18: above the schema's 2^53-1. Such values are set aside in
        # self.tolerated instead of failing; once the contract changes
        # (issue 13, "numbers"), they fail like any other.
        with open(os.path.join(source_dir, "docs", "PROTOCOL.md"), encoding="utf-8") as f:
            self.seq_beyond_2_53 = re.search(r"start time in ms\) x 2\^20", f.read()) is not None
        self.tolerated = []
        for name, s in self.doc["components"]["schemas"].items():
            try:
                Draft202012Validator.check_schema(s)
            except Exception as e:
                raise TestFailure("openapi.yaml: schema %s is not valid JSON Schema: %s"
                                  % (name, e))

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj and len(obj) == 1:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def schema(self, name):
        return self.doc["components"]["schemas"][name]

    def methods(self, path):
        return {m.upper() for m in self.METHODS if m in self.doc["paths"][path]}

    def response(self, op_id, status):
        """The documented response object for status (or default), or None."""
        resp = self.ops[op_id][2]["responses"]
        r = resp.get(str(status), resp.get("default"))
        return self.deref(r) if r is not None else None

    def json_schema(self, op_id, status):
        r = self.response(op_id, status)
        if r is None:
            return None
        content = r.get("content", {})
        return content.get("application/json", {}).get("schema")

    SEQ_FIELDS = ("seq", "region_seq", "key_seq")

    def validation_errors(self, schema, value):
        v = Draft202012Validator(schema, resolver=self.resolver)
        out = []
        for e in v.iter_errors(value):
            where = "/".join(map(str, e.absolute_path))
            if (self.seq_beyond_2_53 and e.validator == "maximum" and e.absolute_path
                    and e.absolute_path[-1] in self.SEQ_FIELDS):
                self.tolerated.append(where)
                continue
            out.append("%s at %s" % (e.message[:300], where))
        return out

    def check_reply(self, op_id, reply):
        """The list of ways reply breaks the document (empty: it conforms)."""
        s = self.json_schema(op_id, reply.status)
        if s is None:
            return ["%s: HTTP %d is not a documented response" % (op_id, reply.status)]
        if reply.json is None:
            return ["%s: HTTP %d body is not JSON: %r" % (op_id, reply.status, reply.raw[:200])]
        return ["%s HTTP %d: %s" % (op_id, reply.status, e)
                for e in self.validation_errors(s, reply.json)]

    # ---- errors

    def error_schemas(self):
        """{name: (code, status)} from the E_<name> schemas."""
        out = {}
        for key, s in self.doc["components"]["schemas"].items():
            if key.startswith("E_"):
                props = s["properties"]
                out[props["name"]["const"]] = (props["code"]["const"], s["x-http-status"])
        return out

    def _error_refs(self, schema):
        """Names of the E_<name> schemas a response schema allows."""
        names = []
        for part in schema.get("allOf", []):
            err = part.get("properties", {}).get("error", {})
            for alt in err.get("oneOf", []):
                names.append(alt["$ref"].rsplit("/", 1)[1][2:])
        return names

    def route_errors(self, op_id, with_default=False):
        """{name: status} of the errors op_id documents (its own statuses;
        with_default, the default response's too, under status None)."""
        out = {}
        for status, r in self.ops[op_id][2]["responses"].items():
            if status == "default" and not with_default:
                continue
            s = (self.deref(r).get("content", {}).get("application/json", {})
                 .get("schema"))
            if s is None or "allOf" not in s:
                continue
            for name in self._error_refs(s):
                out[name] = None if status == "default" else int(status)
        return out

    def description_table(self):
        """{name: (code, status text)} of the table in info.description."""
        out = {}
        for m in re.finditer(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|\s*([^|]+?)\s*\|\s*$",
                             self.doc["info"]["description"], re.M):
            out[m.group(2)] = (int(m.group(1)), m.group(3))
        return out


def error_h_names(source_dir):
    """{name: code} of include/atp/error.h's ATP_ERROR_MAP."""
    with open(os.path.join(source_dir, "include", "atp", "error.h")) as f:
        text = f.read()
    return {m.group(2): int(m.group(1))
            for m in re.finditer(r'X\(\s*\w+\s*,\s*(\d+)\s*,\s*"(\w+)"', text)}


def http_md_table(source_dir):
    """{name: (code, [statuses])} of docs/HTTP.md's error table: the rows of
    a markdown table whose cells hold a code, a `name` and HTTP statuses."""
    path = os.path.join(source_dir, "docs", "HTTP.md")
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            if len(cells) < 3 or not cells[0].isdigit() or not re.match(r"^[a-z_]+$", cells[1]):
                continue
            # the status column, then a status named with its reason phrase
            # further on ("**405 Method Not Allowed**", unknown_op's exception)
            statuses = [int(s) for s in re.findall(r"\b([1-5]\d\d)\b", cells[2])]
            for more in re.findall(r"\b([1-5]\d\d) [A-Z][a-z]", " | ".join(cells[3:])):
                if int(more) not in statuses:
                    statuses.append(int(more))
            if statuses:
                out[cells[1]] = (int(cells[0]), statuses)
    return out


def http_md_routes(source_dir):
    """{(method, path)} of docs/HTTP.md's route table (rows whose first
    cell is `METHOD /...`, the query string dropped)."""
    path = os.path.join(source_dir, "docs", "HTTP.md")
    if not os.path.exists(path):
        return set()
    with open(path, encoding="utf-8") as f:
        return {(m.group(1), m.group(2)) for m in re.finditer(
            r"^\|\s*`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)[^`]*`\s*\|", f.read(), re.M)}


# ---------------------------------------------------------------------------
# raw sockets (slow clients, Server-Sent Events)


def raw_connect(base_url, timeout_s=5.0):
    u = urllib.parse.urlsplit(base_url)
    s = socket.create_connection((u.hostname, u.port), timeout=timeout_s * harness.TIME_FACTOR)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class SseReader:
    """GET path as text/event-stream on a raw socket; events() yields
    {"id", "event", "data"} dicts as they arrive (bounded by timeouts)."""

    def __init__(self, base_url, path, headers=None):
        u = urllib.parse.urlsplit(base_url)
        self.sock = raw_connect(base_url)
        req = "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n" % (
            path, u.hostname, u.port)
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        self.status = None
        self.headers = {}
        self.chunked = False
        self.body = b""  # decoded body bytes not yet parsed into events

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no event in time")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no event in time")
        if not chunk:
            raise harness.ConnectionClosed()
        self.buf += chunk

    def head(self, timeout_s=5.0):
        """Read the status line and headers; returns the status."""
        deadline = time.monotonic() + timeout_s * harness.TIME_FACTOR
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for l in lines[1:]:
            k, _, v = l.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        return self.status

    def _decode(self):
        if not self.chunked:
            self.body += self.buf
            self.buf = b""
            return
        while True:
            i = self.buf.find(b"\r\n")
            if i < 0:
                return
            n = int(self.buf[:i].split(b";")[0], 16)
            if len(self.buf) < i + 2 + n + 2:
                return
            self.body += self.buf[i + 2:i + 2 + n]
            self.buf = self.buf[i + 2 + n + 2:]
            if n == 0:
                return

    def next_event(self, timeout_s=5.0):
        """The next event with data (comments and keep-alives skipped)."""
        deadline = time.monotonic() + timeout_s * harness.TIME_FACTOR
        while True:
            self._decode()
            body = self.body.replace(b"\r\n", b"\n")
            i = body.find(b"\n\n")
            if i >= 0:
                block, self.body = body[:i], body[i + 2:]
                ev = {"data": None}
                data = []
                for line in block.decode("utf-8").split("\n"):
                    if line.startswith(":") or not line:
                        continue
                    k, _, v = line.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    if k == "data":
                        data.append(v)
                    else:
                        ev[k] = v
                if data:
                    ev["data"] = "\n".join(data)
                    return ev
                continue
            self._fill(deadline)

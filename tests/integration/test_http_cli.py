#!/usr/bin/python3
"""test_http_cli.py - turning HTTP on and off (docs/HTTP.md, docs/CONFIG.md).

- `atpd --http-listen http://127.0.0.1:0` without a config file: the bound
  URL is in the --ready-file (`http`) and in the ready log line, and
  answers; SIGTERM stops it cleanly;
- without http_listen: no `http` in the ready file, "HTTP on (off)", no
  `http` in status;
- a URL that is no numeric http://HOST:PORT, and a port already in use:
  atpd refuses to start (exit 1) and says why.
"""

import json
import os
import socket
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TF = harness.TIME_FACTOR


def run_atpd(h, name, http):
    """Start atpd (every socket on port 0) with --http-listen http (None:
    none); returns (process, ready dict, stderr path)."""
    d = os.path.join(h.tmp, name)
    os.makedirs(d)
    ready = os.path.join(d, "ready.json")
    err = os.path.join(d, "stderr")
    argv = [h.atpd_bin, "--data-dir", os.path.join(d, "data"), "--ready-file", ready]
    for opt in ("--query-listen", "--ingest-listen", "--feed-listen", "--control-listen"):
        argv += [opt, "tcp://127.0.0.1:0"]
    if http is not None:
        argv += ["--http-listen", http]
    with open(err, "wb") as f:
        p = harness._spawn(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def is_ready():
        if p.poll() is not None:
            return "exited"
        try:
            with open(ready) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return None
    r = harness.wait_until(is_ready, 30 * TF, 0.02, "atpd ready or exited")
    return p, (r if r != "exited" else None), err


def stop(p):
    p.terminate()
    return p.wait(timeout=30 * TF)


def main(h):
    ck = harness.Checks(h)
    p, ready, err = run_atpd(h, "on", "http://127.0.0.1:0")
    ck.check(ready is not None and ready.get("http", "").startswith("http://127.0.0.1:"),
             "the ready file names the bound HTTP URL: %r", ready)
    url = ready["http"]
    ck.check(not url.endswith(":0"), "a real port: %s", url)
    with urllib.request.urlopen(url + "/v1/status", timeout=10 * TF) as r:
        st = json.loads(r.read())
    ck.eq((r.status, st["http"]["listen"]), (200, url), "status over HTTP")
    ck.eq(stop(p), 0, "a clean stop with HTTP on")
    log = open(err).read()
    ck.check("HTTP on %s" % url in log, "the ready line names the URL: %s", log[-400:])

    p, ready, err = run_atpd(h, "off", None)
    ck.check(ready is not None and "http" not in ready, "no http in the ready file: %r", ready)
    ck.eq(stop(p), 0, "a clean stop without HTTP")
    ck.check("HTTP on (off)" in open(err).read(), "the ready line says HTTP is off")

    for bad in ("http://localhost:0", "127.0.0.1:0", "http://127.0.0.1"):
        p, ready, err = run_atpd(h, "bad-%d" % abs(hash(bad)), bad)
        ck.eq((ready, p.wait(timeout=30 * TF)), (None, 1), "--http-listen %s refused" % bad)
        ck.check("http_listen" in open(err).read(), "%s: the message names the setting: %s",
                 bad, open(err).read()[-300:])

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    p, ready, err = run_atpd(h, "in-use", "http://127.0.0.1:%d" % port)
    ck.eq((ready, p.wait(timeout=30 * TF)), (None, 1), "a port in use: atpd refuses to start")
    ck.check("cannot listen on http://127.0.0.1:%d" % port in open(err).read(),
             "the message names the URL: %s", open(err).read()[-300:])
    taken.close()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "http_cli")

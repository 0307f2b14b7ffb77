#!/usr/bin/python3
"""test_ops_dashboard.py - the dashboard at /ui in a real browser (issue 15).

atpd with a source (the test's own publisher) and HTTP; Debian's headless
Chromium driven by chromedriver (python3-selenium), both started here on
loopback and stopped by pid. The test checks:
- /ui and its files come with their Content-Type, a strict
  Content-Security-Policy and nosniff, from the binary (no asset dir);
- the page's service, source and reservation numbers equal the API's;
- the explain view for a SKU typed into the page equals GET /v1/explain;
- stock changed through the feed reaches the page without a reload
  (change feed -> explain again) before a deadline;
- the browser logged no error (a CSP violation would be one);
- with tokens (a second atpd with `auth.tokens`): the page asks for a
  token, a wrong one is refused (asked again, nothing shown), a read token
  typed into the form fills the numbers and brings the change feed live
  (read over fetch with the Authorization header), and a change reaches
  the page.
A screenshot is saved in the build dir as a test artifact (path printed).
Labels: integration, ops, browser.
"""

import hashlib
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import http_util as H  # noqa: E402
import resv_util as U  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PAGE_S = 20  # deadline for the page to show a value (scaled)


def dashboard_config(h):
    cfg = H.http_config(h)
    cfg["regions"] = [{"id": "east", "inbound_horizon": "1h"}, {"id": "west"}]
    cfg["buffers"] = [{"sku": "A", "region": "east", "channel": "web", "units": 5},
                      {"region": "west", "percent": 12.5}]
    cfg["sources"] = [harness.source_entry(
        "wms", [(["E1", "W1"], ["on_hand", "allocated", "held", "inbound"])])]
    return cfg


DASH_TOKEN = "tok-dashboard-0123456789"
SALT = bytes(range(16))


class TokClient(U.Client):
    """A query client that puts a token into every request."""

    def __init__(self, port, token, d=None):
        super().__init__(port, d=d)
        self.token = token

    def req_once(self, body):
        if isinstance(body, dict):
            body = dict(body, token=self.token)
        return super().req_once(body)


def auth_config(h):
    cfg = dashboard_config(h)
    cfg["auth"] = {"tokens": [{"name": "dash", "scopes": ["read", "reserve"],
                               "salt": SALT.hex(),
                               "sha256": hashlib.sha256(SALT + DASH_TOKEN.encode()).hexdigest()}]}
    return cfg


def check_token(h, ck, wd):
    """The page against an atpd with tokens (see the module's doc).
    Returns the browser's errors but the expected 401s."""
    from selenium.webdriver.common.by import By
    d = h.start_atpd(auth_config(h))
    c = TokClient(d.query_port, DASH_TOKEN, d=d)
    feed = U.Feeder(d, c)
    feed.publish("wms", [[2, "A", "E1", 0, 100], [2, "B", "E1", 0, 7]])
    host, port = H.http_addr(d)
    wd.get("http://%s:%d/ui" % (host, port))
    harness.wait_until(lambda: wd.execute_script(
        "return document.getElementById('token-form').hidden === false;"), PAGE_S, 0.1,
        "the token form shown")
    ck.check("unauthenticated" in (page_text(wd, "#token-why") or ""),
             "the form says why: %r", page_text(wd, "#token-why"))
    ck.eq(page_text(wd, "#skus"), "", "nothing shown without a token")

    def type_token(t):
        box = wd.find_element(By.ID, "token")
        box.clear()
        box.send_keys(t)
        wd.find_element(By.ID, "token-go").click()
    type_token("not-the-token")
    harness.wait_until(lambda: wd.execute_script(
        "return document.getElementById('token-form').hidden === false;"), PAGE_S, 0.1,
        "a wrong token: the form again")
    ck.eq(page_text(wd, "#skus"), "", "nothing shown with a wrong token")
    type_token(DASH_TOKEN)
    harness.wait_until(lambda: page_text(wd, "#live") == "live", PAGE_S, 0.1,
                       "the change feed live with the token")
    want = str(c.status()["skus"])
    harness.wait_until(lambda: page_text(wd, "#skus") == want, PAGE_S, 0.1,
                       "the SKU count shown with the token")
    ck.eq(wd.execute_script("return document.getElementById('token-form').hidden;"), True,
          "the form hidden once the token works")
    before = int(page_text(wd, "#feed-events") or 0)
    feed.publish("wms", [[2, "B", "E1", 0, 70]])
    harness.wait_until(lambda: int(page_text(wd, "#feed-events") or 0) > before, PAGE_S, 0.1,
                       "a change reaching the page over the authenticated feed")
    ck.check("B in east" in (page_text(wd, "#last-change") or ""),
             "the last change names B in east: %r", page_text(wd, "#last-change"))
    # Read before atpd stops under the page (its calls would then fail).
    errors = [e for e in wd.get_log("browser") if e.get("level") == "SEVERE"
              and "401 (Unauthorized)" not in e.get("message", "")]
    wd.get("about:blank")
    feed.close()
    d.stop()
    return errors


def descendants(pid):
    """Every live process under pid (from /proc), children first."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


class Browser:
    """chromedriver on a free loopback port, driving headless Chromium with
    a private profile; close() quits it and kills what is left by pid."""

    def __init__(self, h):
        from selenium import webdriver
        self.tmp = tempfile.mkdtemp(prefix="atp-chromium-", dir=h.tmp)
        port = harness.free_ports(1)[0]
        self.log = open(os.path.join(h.tmp, "chromedriver.log"), "wb")
        self.driver_proc = harness._spawn(
            [CHROMEDRIVER, "--port=%d" % port, "--allowed-ips=127.0.0.1"],
            stdout=self.log, stderr=subprocess_stdout())
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--user-data-dir=" + self.tmp,
                  "--window-size=1280,1800", "--no-first-run", "--no-default-browser-check",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-default-apps", "--disable-extensions"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        url = "http://127.0.0.1:%d" % port
        harness.wait_until(lambda: port_open(port), 10, 0.05, "chromedriver listening")
        self.pids = []
        self.wd = webdriver.Remote(command_executor=url, options=opts)
        self.pids = descendants(self.driver_proc.pid)
        h.log("chromedriver pid %d, browser pids %s", self.driver_proc.pid, self.pids)

    def close(self):
        try:
            self.wd.quit()
        except Exception:
            pass
        for pid in self.pids + descendants(self.driver_proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        harness._stop_pid(self.driver_proc, 5)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def subprocess_stdout():
    import subprocess
    return subprocess.STDOUT


def port_open(port):
    import socket
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def page_text(wd, css):
    """The text of the first element matching css, or None; read in one
    script call (the page replaces its rows: no element handle is kept)."""
    return wd.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
        css)


def page_rows(wd, table, key_attrs):
    """{(attr values...): {data-k: text}} of a table's body rows."""
    return wd.execute_script("""
        const out = {};
        for (const tr of document.querySelectorAll('#' + arguments[0] + ' tbody tr')) {
          const key = arguments[1].map((a) => tr.dataset[a]).join('|');
          const row = {};
          for (const td of tr.querySelectorAll('td[data-k]')) row[td.dataset.k] = td.textContent;
          out[key] = row;
        }
        return out;""", table, key_attrs)


def api_rows_explain(x):
    ans = {}
    for reg in x["regions"]:
        for ch in reg["channels"]:
            row = {k: str(ch[k]) for k in ("supply", "reserved", "buffer", "rule", "atp",
                                           "shortfall")}
            row["stale"] = "stale" if ch["stale"] else "fresh"
            row["why"] = ("no buffer" if ch["buffer_by"] == "none" else
                          "%s: max(%d units, %s %% of %d = %d)"
                          % (ch["buffer_by"], ch["buffer_units"],
                             "%g" % (ch["buffer_percent_bp"] / 100), ch["supply"],
                             ch["buffer_from_percent"]))
            ans["%s|%s" % (reg["region"], ch["channel"])] = row
    locs = {l["location"]: {k: str(l[k]) for k in ("on_hand", "allocated", "held", "inbound",
                                                   "net")} for l in x["locations"]}
    lots = {l["lot"]: {"qty": str(l["qty"]), "in_horizon": "yes" if l["in_horizon"] else "no"}
            for l in x["lots"]}
    return ans, locs, lots


def main(h):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            harness.skip("%s missing (scripts/install-deps.sh installs chromium, "
                         "chromium-driver)" % path)
    try:
        import selenium  # noqa: F401
    except ImportError:
        harness.skip("python3-selenium missing (scripts/install-deps.sh installs it)")
    ck = harness.Checks(h)
    d = h.start_atpd(dashboard_config(h))
    c = U.Client(d.query_port, d=d)
    feed = U.Feeder(d, c)
    now = harness.now_ms()
    feed.publish("wms", [[2, "A", "E1", 0, 100], [2, "A", "E1", 1, 10], [2, "A", "W1", 0, 40],
                         [2, "B", "E1", 0, 7],
                         [6, "A", "E1", "PO-1", 12, now + 600 * 1000]])
    ck.eq(c.reserve("r-1", [["A", "east", 3]], channel="web").get("granted"), True, "reserve")
    ck.eq(c.reserve("r-2", [["B", "east", 100]]).get("granted"), False, "a refusal")
    host, port = H.http_addr(d)
    base = "http://%s:%d" % (host, port)

    h.log("the files: types and headers")
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=10 * harness.TIME_FACTOR)
    for path, ctype in (("/ui", "text/html"), ("/ui/", "text/html"),
                        ("/ui/ui.js", "text/javascript"), ("/ui/ui.css", "text/css"),
                        ("/ui/favicon.svg", "image/svg+xml")):
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        ck.eq((r.status, r.getheader("Content-Type")), (200, ctype + "; charset=utf-8"), path)
        csp = r.getheader("Content-Security-Policy") or ""
        ck.check("default-src 'none'" in csp and "script-src 'self'" in csp
                 and "'unsafe-inline'" not in csp, "%s: strict CSP, got %r", path, csp)
        ck.eq(r.getheader("X-Content-Type-Options"), "nosniff", path + " nosniff")
        own = body.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")  # a name, not a fetch
        ck.check(len(body) > 100 and b"http://" not in own and b"https://" not in own,
                 "%s: served from the binary, nothing from another origin", path)
    conn.request("GET", "/ui/missing.js")
    r = conn.getresponse()
    r.read()
    ck.eq(r.status, 404, "/ui/missing.js: no such file")
    conn.close()

    h.log("the page in headless Chromium")
    b = Browser(h)
    try:
        wd = b.wd
        wd.set_page_load_timeout(20 * harness.TIME_FACTOR)
        wd.get(base + "/ui")
        harness.wait_until(lambda: page_text(wd, "#live") == "live", PAGE_S, 0.1,
                           "the page's change feed live")

        def same_status():
            st = c.status()
            src = c.sources()["wms"]
            rv = st["reservations"]
            want = {"#skus": st["skus"], "#positions": st["positions"],
                    "#events-applied": st["engine"]["events_applied"],
                    "#resv-open": rv["open"], "#resv-held": rv["held"],
                    "#resv-granted": rv["granted"], "#resv-refused": rv["refused"],
                    "#resv-expired": rv["expired"],
                    "tr[data-source=wms] td[data-k=state]": src["state"],
                    "tr[data-source=wms] td[data-k=last_seq]": src["last_seq"],
                    "tr[data-source=wms] td[data-k=events]": src["events"]}
            got = {k: page_text(wd, k) for k in want}
            same_status.last = (got, want)
            return all(got[k] == str(v) for k, v in want.items())
        try:
            harness.wait_until(same_status, PAGE_S, 0.2, "the page's numbers equal the API's")
        except harness.TestFailure:
            ck.check(False, "page vs API: %r", same_status.last)
        # Rates need two polls.
        harness.wait_until(lambda: page_text(wd, "#ingest-rate") not in (None, ""), PAGE_S,
                           0.1, "an ingest rate shown")
        ck.eq(page_text(wd, "#resv-refused-rate"), "0.0", "no refusals since the last poll")

        h.log("explain view")
        from selenium.webdriver.common.by import By
        box = wd.find_element(By.ID, "explain-sku")
        box.send_keys("A")
        wd.find_element(By.ID, "explain-go").click()

        def same_explain():
            x = c.ok({"op": "explain", "sku": "A"})
            ans, locs, lots = api_rows_explain(x)
            got = (page_rows(wd, "explain-answers", ["region", "channel"]),
                   page_rows(wd, "explain-locations", ["location"]),
                   page_rows(wd, "explain-lots", ["lot"]))
            same_explain.last = (got, (ans, locs, lots))
            return got == (ans, locs, lots)
        try:
            harness.wait_until(same_explain, PAGE_S, 0.2, "the explain view equals the API")
        except harness.TestFailure:
            ck.check(False, "explain view vs API: %r", same_explain.last)
        before = page_rows(wd, "explain-answers", ["region", "channel"]).get("east|web", {})
        ck.eq(before.get("atp"), str(c.atp("A", "east", "web")["atp"]), "east/web ATP on the page")

        h.log("stock changes through the feed; the page follows without a reload")
        wd.execute_script("window.__noReload = true;")
        feed.publish("wms", [[2, "A", "E1", 0, 250]])
        want = c.atp("A", "east", "web")["atp"]
        ck.check(str(want) != before.get("atp"), "the change changes ATP (%s)", want)
        try:
            harness.wait_until(
                lambda: page_rows(wd, "explain-answers", ["region", "channel"])
                .get("east|web", {}).get("atp") == str(want), PAGE_S, 0.1,
                "the page to show the new ATP %d" % want)
        except harness.TestFailure as e:
            ck.check(False, "%s; page shows %r", e,
                     page_rows(wd, "explain-answers", ["region", "channel"]).get("east|web"))
        ck.eq(wd.execute_script("return window.__noReload === true;"), True,
              "the page was not reloaded")
        net = page_rows(wd, "explain-locations", ["location"]).get("E1", {}).get("net")
        ck.eq(net, str(250 - 10 + 12), "E1's net on the page after the change")
        ck.check(int(page_text(wd, "#feed-events") or 0) >= 1, "change-feed events counted")

        shot_dir = os.path.join(h.bin_dir, "test-artifacts")
        os.makedirs(shot_dir, exist_ok=True)
        shot = os.path.join(shot_dir, "ops_dashboard.png")
        ck.check(wd.save_screenshot(shot) and os.path.getsize(shot) > 1000, "screenshot saved")
        print("screenshot: %s" % shot, flush=True)

        errors = [e for e in wd.get_log("browser") if e.get("level") == "SEVERE"]
        ck.eq(errors, [], "no error in the browser's console (CSP, script)")

        h.log("an atpd with tokens: the page asks for one")
        errors = check_token(h, ck, wd)
        ck.eq(errors, [], "no error but the refused calls (401) in the browser's console")
    finally:
        b.close()
    feed.close()
    d.stop()
    ck.done()


if __name__ == "__main__":
    harness.run(main, "ops_dashboard")

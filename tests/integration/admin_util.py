"""admin_util.py - what the run-time administration tests share (issue 16):
the admin state surviving kill -9, and the export passing --check-config."""

import os
import subprocess

import harness


def kill9_keeps_state(ck, d, c, **restarted):
    """kill -9 atpd and start it again (same file, same data): admin_list
    and the whole history must be as before, but for the admin_list keys
    given in restarted (spare_locations=N, spare_channels=N: the spare
    places a start makes again, when some were taken). Returns a new
    client (c is closed)."""
    state = c.ok({"op": "admin_list"})
    hist = c.ok({"op": "admin_history", "limit": 1000})
    d.kill9()
    d.start()
    c.close()
    c = harness.Client(d.query_port, d=d)
    state.update(restarted)
    ck.eq(c.ok({"op": "admin_list"}), state, "admin_list after kill -9")
    ck.eq(c.ok({"op": "admin_history", "limit": 1000}), hist, "history after kill -9")
    return c


def export_checked(ck, h, d, c):
    """admin_export's document, which `atpd --check-config` must accept."""
    exp = c.ok({"op": "admin_export"})["config"]
    path = os.path.join(d.dir, "exported.yaml")
    with open(path, "w") as fh:
        fh.write(exp)
    p = subprocess.run([h.atpd_bin, "--check-config", path], capture_output=True,
                       text=True, timeout=30 * harness.TIME_FACTOR)
    ck.eq(p.returncode, 0, "--check-config accepts the export: %s%s" % (p.stdout, p.stderr))
    return exp


def ctl_at(h, ep):
    """atpctl against endpoint ep: ctl(*args) -> (returncode, stdout, stderr)."""
    def ctl(*args):
        r = harness.run_ctl(h, ["--endpoint", ep] + list(args))
        return r.returncode, r.stdout, r.stderr
    return ctl

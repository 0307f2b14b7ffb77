#!/usr/bin/python3
"""check_reports.py - fail on every ThreadSanitizer report that is about our code.

The TSan pass of `make test` runs the tests with
TSAN_OPTIONS=exitcode=0:log_path=DIR/tsan, so a report does not turn into a
test failure by itself; this script reads DIR/tsan.* afterwards.

One kind of report is not ours and is skipped: a race in which both
conflicting accesses are made by libnng itself (the innermost frame below
TSan's own interceptor is in libnng on both sides; our frames further down
are only the callers of nng_send).
Debian's libnng is not built with -fsanitize=thread: a PUB socket shares a
message between pipes with an atomic reference count TSan cannot see, so
the free() of a message that another nng thread sent looks like a race.
When TSan could not restore the other side's stack ("failed to restore the
stack", its history buffer was overwritten) and the side it has is libnng
freeing memory, the report is skipped too: the memory is an nng message,
and a use of a message after nng freed it is ASan's to find (make test's
address-sanitizer pass). A race in which either access is made by our code (atpd, the tools, a test)
fails the pass, even when the other side is inside nng.

Usage: check_reports.py DIR
"""

import glob
import os
import re
import sys

FRAME = re.compile(r"^\s+#\d+ (\S+) .*\((\S+?)\+0x[0-9a-f]+\)\s*$")


def blocks(text):
    """Each report: the lines between WARNING: ThreadSanitizer and SUMMARY."""
    out, cur = [], None
    for line in text.splitlines():
        if line.startswith("WARNING: ThreadSanitizer"):
            cur = [line]
        elif cur is not None:
            cur.append(line)
            if line.startswith("SUMMARY: ThreadSanitizer"):
                out.append(cur)
                cur = None
    if cur is not None:
        out.append(cur)  # a report cut short still counts
    return out


def access_stacks(report):
    """The frames of the two conflicting accesses (not mutexes, not threads)."""
    stacks, cur = [], None
    for line in report[1:]:
        s = line.strip()
        if re.match(r"^(Previous )?(atomic )?(Read|Write|read|write) of size", s):
            cur = []
            stacks.append(cur)
        elif s == "" or not s.startswith("#"):
            cur = None
        elif cur is not None:
            m = FRAME.match(line)
            if m:
                cur.append(m.group(2))
    return stacks


def only_nng(report):
    stacks = access_stacks(report)
    if len(stacks) == 2 and any(not st for st in stacks) and \
            any("failed to restore the stack" in line for line in report):
        known = [st for st in stacks if st][0]
        mods = [os.path.basename(m) for m in known if "libtsan" not in m]
        return bool(mods) and mods[0].startswith("libnng.so")
    if len(stacks) < 2:
        return False
    for st in stacks:
        mods = [os.path.basename(m) for m in st if "libtsan" not in m]
        if not mods or not mods[0].startswith("libnng.so"):
            return False
    return True


def main():
    if len(sys.argv) != 2:
        print("usage: check_reports.py DIR", file=sys.stderr)
        return 2
    ours, skipped = [], 0
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "tsan.*"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for report in blocks(f.read()):
                if only_nng(report):
                    skipped += 1
                else:
                    ours.append((path, report))
    for path, report in ours:
        print("=== %s" % path)
        print("\n".join(report))
    print("tsan: %d report(s) about our code, %d inside libnng only (skipped)"
          % (len(ours), skipped))
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main())

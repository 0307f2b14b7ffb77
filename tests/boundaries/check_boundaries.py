#!/usr/bin/python3
"""check_boundaries.py - every module uses only what its CMake file declares.

docs/ARCHITECTURE.md: one folder per module under src/, one static library
each, and every foreign library behind the module(s) that link it. The
declared table is the build itself: tests/CMakeLists.txt writes, for each
`atp_<module>` library, the libraries it links (LINK_LIBRARIES) into a JSON
file. This script checks the code against that table twice:

1. includes: a file in src/<m>/ may include `<foreign header>` only when m
   links that foreign library, `"<other>/..."` only when m depends on
   `atp_<other>` (directly or through another module), and another
   module's private header (`*_int.h`) never;
2. symbols: every symbol that a module's archive leaves undefined (`nm -u`)
   and that a foreign shared library or another module's archive defines
   must come from one that the module may use. This catches what an
   include check cannot: a prototype written by hand, a header that pulls
   in another library.

Without this, a call to LMDB added to the engine still links: atpd links
every module, so the linker finds the symbol anyway.

Usage: check_boundaries.py TABLE.json [--self-test]
--self-test: also prove that both checks can fail (a copy of the engine
with `#include <lmdb.h>` added; the engine's table entry without codec).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def module_closure(table, name):
    """The modules `name` may use: itself and its link dependencies, transitively."""
    seen, todo = set(), [name]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(table["modules"][m]["modules"])
    return seen


def foreign_closure(table, name):
    """Foreign libraries `name` may use: its own and its dependencies' PUBLIC ones.

    A module's own foreign library is private to it (PRIVATE in CMake), so a
    module that depends on `changes` does not get nng from it: only the
    libraries each module links itself count, for itself alone."""
    return set(table["modules"][name]["foreign"])


def foreign_of_header(table, header):
    for fid, f in table["foreign"].items():
        for prefix in f["headers"]:
            if header == prefix or header.startswith(prefix):
                return fid
    return None


def check_includes(table, src_dir):
    problems = []
    for name, mod in sorted(table["modules"].items()):
        folder = os.path.join(src_dir, name)
        allowed_mods = module_closure(table, name)
        allowed_foreign = foreign_closure(table, name)
        for fn in sorted(os.listdir(folder)):
            if not fn.endswith((".c", ".h")):
                continue
            path = os.path.join(folder, fn)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                kind, header = m.group(1), m.group(2)
                line = text.count("\n", 0, m.start()) + 1
                where = "src/%s/%s:%d" % (name, fn, line)
                if kind == "<":
                    fid = foreign_of_header(table, header)
                    if fid and fid not in allowed_foreign:
                        problems.append("%s: includes <%s> (%s), which atp_%s does not link"
                                        % (where, header, fid, name))
                    continue
                top = header.split("/", 1)[0]
                if "/" not in header or top == "atp":
                    continue  # same-folder or the public wire contract
                if top not in table["modules"]:
                    problems.append("%s: includes \"%s\": no module %s" % (where, header, top))
                elif top not in allowed_mods:
                    problems.append("%s: includes \"%s\", but atp_%s does not depend on atp_%s"
                                    % (where, header, name, top))
                elif top != name and header.endswith("_int.h"):
                    problems.append("%s: includes \"%s\", a private header of %s"
                                    % (where, header, top))
    return problems


def nm(args, path):
    out = subprocess.run(["nm"] + args + [path], check=True, capture_output=True,
                         text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.endswith(":"):
            syms.add(parts[-1].split("@", 1)[0])
    return syms


def check_symbols(table):
    problems = []
    defined_by_module = {
        name: nm(["--defined-only", "-g"], mod["archive"])
        for name, mod in table["modules"].items()
    }
    system = set()
    for lib in table["system_libs"]:
        system |= nm(["-D", "--defined-only"], lib)
    defined_by_foreign = {}
    for fid, f in table["foreign"].items():
        syms = set()
        for lib in f["libs"]:
            syms |= nm(["-D", "--defined-only"], lib)
        defined_by_foreign[fid] = syms - system
    for name, mod in sorted(table["modules"].items()):
        undefined = nm(["-u"], mod["archive"])
        allowed_mods = module_closure(table, name)
        allowed_foreign = foreign_closure(table, name)
        for other, syms in sorted(defined_by_module.items()):
            if other in allowed_mods:
                continue
            used = sorted(undefined & syms)
            if used:
                problems.append("atp_%s uses %s from atp_%s, which it does not link"
                                % (name, ", ".join(used[:5]), other))
        for fid, syms in sorted(defined_by_foreign.items()):
            if fid in allowed_foreign:
                continue
            used = sorted((undefined & syms) - defined_by_module[name])
            if used:
                problems.append("atp_%s calls %s from %s, which it does not link"
                                % (name, ", ".join(used[:5]), fid))
    return problems


def self_test(table, src_dir):
    """Both checks must be able to fail; a checker that cannot is no check."""
    tmp = tempfile.mkdtemp(prefix="atp-boundaries-")
    try:
        copy = os.path.join(tmp, "src")
        shutil.copytree(src_dir, copy)
        target = os.path.join(copy, "engine", "engine.c")
        with open(target, "a", encoding="utf-8") as f:
            f.write("\n#include <lmdb.h>\n#include \"store/store_int.h\"\n")
        found = check_includes(table, copy)
        want = ["includes <lmdb.h> (lmdb)", "does not depend on atp_store"]
        for w in want:
            if not any(w in p for p in found):
                return ["self-test: the include check missed '%s' in %s" % (w, found)]
    finally:
        shutil.rmtree(tmp)
    cut = json.loads(json.dumps(table))
    cut["modules"]["engine"]["modules"] = [m for m in cut["modules"]["engine"]["modules"]
                                           if m != "codec"]
    # codec is also reachable through formula/config? Only if they depend on it.
    if "codec" in module_closure(cut, "engine"):
        return ["self-test: codec still reachable from engine; pick another cut"]
    found = check_symbols(cut)
    if not any(p.startswith("atp_engine uses") and "atp_codec" in p for p in found):
        return ["self-test: the symbol check missed engine's use of codec: %s" % found]
    return []


def main():
    if len(sys.argv) < 2:
        print("usage: check_boundaries.py TABLE.json [--self-test]", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        table = json.load(f)
    src_dir = table["src_dir"]
    on_disk = sorted(d for d in os.listdir(src_dir)
                     if os.path.isfile(os.path.join(src_dir, d, "CMakeLists.txt")))
    problems = []
    if on_disk != sorted(table["modules"]):
        problems.append("modules on disk %s != modules in the table %s"
                        % (on_disk, sorted(table["modules"])))
    problems += check_includes(table, src_dir)
    problems += check_symbols(table)
    if "--self-test" in sys.argv[2:]:
        problems += self_test(table, src_dir)
    for p in problems:
        print("boundary: " + p)
    n = len(table["modules"])
    if problems:
        print("FAIL: %d boundary problem(s) in %d modules" % (len(problems), n))
        return 1
    print("ok: %d modules use only the modules and foreign libraries they link" % n)
    for name, mod in sorted(table["modules"].items()):
        print("  %-8s modules %-40s foreign %s" % (
            name, ",".join(sorted(module_closure(table, name) - {name})) or "-",
            ",".join(mod["foreign"]) or "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

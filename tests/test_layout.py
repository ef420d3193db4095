#!/usr/bin/python3
"""The library's layout, checked on its sources and its build: which folders each folder's files
may include (the wavelet and entropy layers nothing above them, the coding path nothing of
training, the CLI only the public headers), no include cycle, no call cycle between the
library's objects, a decode-only program that pulls in no training, backward pass or
refinement, and a shared library that exports exactly what the public headers declare (and has
a SONAME and no run path of ours: clang adds one for its OpenMP runtime)."""
import glob
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import finish, test, run, TOP, TOOLS  # noqa: E402

TMP = tempfile.TemporaryDirectory(prefix="walloc-layout-")
BUILD = os.path.dirname(os.path.dirname(TOOLS))  # $WALLOC_BUILD: the objects
LIBDIR = os.path.dirname(os.environ.get("WALLOC", os.path.join(TOP, "walloc")))

# folder of a file -> the folders its includes may come from (besides system headers)
MAY_INCLUDE = {
    "wavelet": {"wavelet"},
    "entropy": {"entropy"},
    "codec": {"codec", "wavelet", "entropy", "include"},
    "codec/search": {"codec/search", "codec/train", "codec", "wavelet", "entropy", "include"},
    "codec/train": {"codec/train", "codec", "wavelet", "entropy", "include"},
    "cli": {"cli", "include"},
    "include": {"include"},
}
# the one place where the coding path reaches a unit above it: wl_encode's --refine
EXCEPTIONS = {("codec/encode.c", "codec/search/search.h")}


def sources():
    for folder in MAY_INCLUDE:
        for path in sorted(glob.glob(os.path.join(TOP, folder, "*.[ch]"))):
            yield os.path.relpath(path, TOP)


def includes(path):
    """The project files that path includes, as paths from the top."""
    out = []
    for name in re.findall(r'^\s*#\s*include\s+"([^"]+)"', open(os.path.join(TOP, path)).read(), re.M):
        if os.path.exists(os.path.join(TOP, name)):
            out.append(name)
        elif os.path.exists(os.path.join(TOP, "include", name)):
            out.append("include/" + name)
        elif not name.startswith("codec/models/"):  # generated in the build folder
            out.append("missing/" + name)
    return out


GRAPH = {path: includes(path) for path in sources()}


@test("layout: each folder includes only from the folders below it (wavelet/ and entropy/: their own)")
def _():
    bad = [(p, i) for p, incs in GRAPH.items() for i in incs
           if os.path.dirname(i) not in MAY_INCLUDE[os.path.dirname(p)] and (p, i) not in EXCEPTIONS]
    assert not bad, "includes across the layers: %s" % bad


def cycle(graph):
    """A cycle of graph (node -> successors) as a list, or None."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, ()):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not state.get(m):
                found = visit(m)
                if found:
                    return found
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if not state.get(n):
            found = visit(n)
            if found:
                return found
    return None


@test("layout: no include cycle")
def _():
    found = cycle(GRAPH)
    assert not found, "include cycle: %s" % " -> ".join(found)


def symbols(path, local=False):
    """(defined, undefined) external symbols of an object, and with local those a program holds
    as local (the library's hidden symbols become local in a static link)."""
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == "U":
            undefined.add(f[1])
        elif len(f) == 3 and f[1] in ("TDBRCVtdbr" if local else "TDBRCV"):
            defined.add(f[2])
    return defined, undefined


@test("layout: no call cycle between the objects of the library and of the program (who calls whom, from nm)")
def _():
    objs = [os.path.join(BUILD, c[:-2] + ".o") for c in sources() if c.endswith(".c")]
    assert len(objs) > 20, "objects not found under %s" % BUILD
    syms = {os.path.relpath(o, BUILD): symbols(o) for o in objs}
    owner = {s: o for o, (d, _) in syms.items() for s in d}
    calls = {o: {owner[s] for s in u if s in owner and owner[s] != o} for o, (_, u) in syms.items()}
    found = cycle(calls)
    assert not found, "call cycle: %s" % " -> ".join(found)


TRAINING = re.compile(r"_backward|^wl_train|^wl_refine|^wl_model_serialize|^wl_st_write|^wl_linear_fit|"
                      r"^wl_model_tables|^wl_laplace_bits|^wl_noise_forward|^wl_compand_forward|^wl_uniform$")


@test("layout: a decode-only program linked with libwalloc.a holds no training, backward or refinement code")
def _():
    prog = os.path.join(TOOLS, "decode_only")
    wlc = os.path.join(TMP.name, "garden.wlc")
    rc, _, err = run("encode", "-q", "-f", os.path.join(TOP, "testdata", "images", "garden-rgb8.png"), "-o", wlc)
    assert rc == 0, err
    p = subprocess.run([prog, wlc], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.split() == ["256", "256", "3"], "decode_only: %r %r" % (p.stdout, p.stderr)
    defined, _ = symbols(prog, local=True)
    assert "wl_decode" in defined and "wl_synthesise" in defined, "not a static link of the decoder"
    bad = sorted(s for s in defined if TRAINING.search(s))
    assert not bad, "pulled in: %s" % bad


@test("layout: without built-in models (make BUILTIN=0) models come from files, and no model data is linked")
def _():
    prog = os.path.join(TOOLS, "no_builtin")
    p = subprocess.run([prog, os.path.join(TOP, "codec", "models", "rgb.wlm")], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "ok", "no_builtin: %r %r" % (p.stdout, p.stderr)
    defined, _ = symbols(prog, local=True)
    assert not [s for s in defined if s.startswith("wl_model_rgb")], "the built-in models are linked"


def declared():
    """The functions include/walloc.h and include/walloc_train.h declare WL_API."""
    names = set()
    for h in ("walloc.h", "walloc_train.h"):
        names |= set(re.findall(r"^WL_API [^(]*?\b(wl_\w+)\(", open(os.path.join(TOP, "include", h)).read(), re.M))
    return names


@test("layout: libwalloc.so exports exactly the functions the public headers declare, and has a SONAME")
def _():
    so = os.path.join(LIBDIR, "libwalloc.so")
    out = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True, check=True).stdout
    # clang's OpenMP lowering adds lock words (".gomp_critical_user_..."), not functions
    exported = {l.split()[-1] for l in out.splitlines() if l.strip() and not l.split()[-1].startswith(".")}
    want = declared()
    assert len(want) > 40 and exported == want, "exported, not declared: %s; declared, not exported: %s" % (
        sorted(exported - want), sorted(want - exported))
    dyn = subprocess.run(["readelf", "-d", so], capture_output=True, text=True, check=True).stdout
    assert "(SONAME)" in dyn and "libwalloc.so.0" in dyn, "no SONAME"
    paths = [l for l in dyn.splitlines() if "RUNPATH" in l or "RPATH" in l]
    assert not any("openblas" in l for l in paths), "a run path to OpenBLAS is baked in: %s" % paths


finish_rc = finish()
sys.exit(finish_rc)

"""The Python side of tests/check.h: "testing NAME ... ok|FAILED" lines and a closing
"RESULT passed failed" line, which tests/run.sh sums into the make check total; and what the
CLI tests share: running ./walloc (or $WALLOC, to test another build, whose test tools are under
$WALLOC_BUILD), PSNR, .wlc patching, .wlm headers."""
import atexit
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WALLOC = os.environ.get("WALLOC", os.path.join(TOP, "walloc"))
TOOLS = os.path.join(os.environ.get("WALLOC_BUILD", os.path.join(TOP, "build")), "tests", "tools")
IMAGES = os.path.join(TOP, "testdata", "images")

passed = failed = 0


def report(name, ok, why=""):
    global passed, failed
    if not ok and why:
        print("  " + why)
    print("testing %s ... %s" % (name, "ok" if ok else "FAILED"))
    sys.stdout.flush()
    passed, failed = passed + bool(ok), failed + (not ok)


def test(name):
    """Decorator: runs the function at once; an AssertionError is a failure with its message."""
    def wrap(fn):
        try:
            fn()
            report(name, True)
        except AssertionError as e:
            report(name, False, str(e))
        return fn
    return wrap


def finish():
    """Prints the RESULT line; returns the exit status."""
    print("RESULT %d %d" % (passed, failed))
    return 1 if failed else 0


def default_signals():
    """A child's preexec_fn: SIGTERM, SIGINT and SIGHUP as from a terminal. A shell's background
    job (make check run with &, nohup) hands them down ignored, and walloc keeps an ignored signal
    ignored, so a test that stops walloc by one sets it back first."""
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def run(*args, stdin=None):
    """(exit status, stdout bytes, stderr text) of walloc ARGS."""
    p = subprocess.run([WALLOC] + list(args), input=stdin, capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode()


def png_crcs_ok(path):
    """Whether every chunk of the PNG at path has the CRC its type and data give (zlib.crc32)."""
    import struct
    import zlib
    d = open(path, "rb").read()
    p = 8
    while p < len(d):
        n, = struct.unpack(">I", d[p:p + 4])
        if zlib.crc32(d[p + 4:p + 8 + n]) & 0xffffffff != struct.unpack(">I", d[p + 8 + n:p + 12 + n])[0]:
            return False
        p += 12 + n
    return p == len(d)


def peak_rss_kb(*args):
    """Peak resident memory in KB of walloc ARGS, measured in a child of its own."""
    code = "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; " \
           "print(r, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    rc, kb = subprocess.run([sys.executable, "-c", code, WALLOC, *args], capture_output=True, text=True).stdout.split()
    assert rc == "0", args
    return int(kb)


SANITIZED = b"__asan_init" in open(WALLOC, "rb").read() if os.path.exists(WALLOC) else False  # ASan: other memory


def scratch(prefix):
    """The path of a new temporary directory, removed with everything in it when the test exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def garden_scratch(prefix):
    """A temporary directory (removed at exit), a function naming files in it, the garden-rgb8.png
    fixture and its .wlc there (encoded with the default model): the start of the I/O tests."""
    tmp = tempfile.TemporaryDirectory(prefix=prefix)
    name = lambda f: os.path.join(tmp.name, f)  # noqa: E731
    rgb, wlc = os.path.join(IMAGES, "garden-rgb8.png"), name("garden.wlc")
    rc, _, err = run("encode", "-q", rgb, "-o", wlc)
    assert rc == 0, err
    return tmp, name, rgb, wlc


def fails_cleanly(args, out, stdin=None, has=()):
    """Asserts that walloc ARGS -o OUT fails as bad input must: exit status 1, one line on stderr
    holding every string of `has` (None entries skipped), and neither OUT nor a temporary file
    left in its folder."""
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = run(*args, "-o", out, stdin=stdin)
    lines = err.strip().split("\n")
    assert rc == 1, "exit status %d (%s)" % (rc, err)
    assert len(lines) == 1 and all(s in lines[0] for s in has if s is not None), "stderr: %r" % err
    assert not os.path.exists(out), "output file left behind"
    d = os.path.dirname(out)
    assert not (os.path.isdir(d) and [f for f in os.listdir(d) if ".tmp-" in f]), "temp file left"


def encode_eval(png, out, *opts):
    """(bytes, bpp, PSNR) of walloc encode opts of png into out, as walloc eval --json reports them."""
    rc, _, err = run("encode", "-q", "-f", *opts, png, "-o", out)
    assert rc == 0, "encode %s: %s" % (" ".join(opts), err)
    rc, js, err = run("eval", "--json", png, out)
    assert rc == 0, err
    d = json.loads(js)
    return d["bytes"], d["bpp"], d["psnr"]


def psnr(a, b, depth):
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(((1 << depth) - 1) ** 2 / mse) if mse else float("inf")


def wlm_header(path):
    """The JSON header of a .wlm file (safetensors: an 8-byte little-endian length, then JSON):
    tensor entries by name, and the configuration under "__metadata__"."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def with_crc(b):
    """b with its CRC-32 trailer recomputed (a .wlc whose header was edited)."""
    b = bytearray(b)
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def patched(b, off, fmt, value):
    b = bytearray(b)
    struct.pack_into(fmt, b, off, value)
    return with_crc(b)

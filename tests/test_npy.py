#!/usr/bin/python3
"""NumPy .npy images in the CLI: sensor arrays of any channel count (uint8/uint16, (C, H, W) or
(H, W)) go through train, encode, decode and eval; a 3-channel array encodes to the same bytes
as the PNG of its pixels; decode picks .npy for channel counts PNG cannot hold; every bad
.npy (dtype, byte order, order, shape, length, header) fails with one line naming the file."""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import pngref  # noqa: E402
from harness import fails_cleanly, finish, scratch, test, run, psnr, IMAGES  # noqa: E402

TMP = scratch("walloc-npy-")
T = lambda *name: os.path.join(TMP, *name)  # noqa: E731




def smooth(c, h, w, dtype, seed):
    """A smooth (C, H, W) array over most of the dtype's range: a different sum of slow waves per channel."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    peak = np.iinfo(dtype).max
    planes = []
    for _ in range(c):
        f, p = rng.uniform(1, 4, 4), rng.uniform(0, 6.3, 4)
        v = np.sin(f[0] * x + p[0]) * np.cos(f[1] * y + p[1]) + 0.5 * np.sin(f[2] * (x + y) + p[2] + f[3] * x * y)
        planes.append((0.5 + 0.3 * v) * peak)
    return np.clip(np.round(planes), 0, peak).astype(dtype)


def dataset(name, c, dtype, n=4, h=37, w=53):
    d = T(name)
    os.mkdir(d)
    for i in range(n):
        np.save(os.path.join(d, "s%d.npy" % i), smooth(c, h, w, dtype, 100 * c + i))
    return d


SIX, FIVE = dataset("six", 6, np.uint8), dataset("five", 5, np.uint16)
M6, M5, MN = T("m6.wlm"), T("m5.wlm"), T("n.wlm")
TRAIN = {M6: run("train", "--linear", "--channels", "6", "-J", "2", "-K", "24", "-o", M6, SIX),
         M5: run("train", "--linear", "--channels", "5", "-J", "2", "-K", "24", "-o", M5, FIVE)}


def roundtrip(model, a, name):
    """Saves a, encodes and decodes it with model; returns the decoded array and the .wlc path."""
    src, wlc, out = T(name + ".npy"), T(name + ".wlc"), T(name + ".out.npy")
    np.save(src, a)
    rc, _, err = run("encode", "-f", "-m", model, src, "-o", wlc)
    assert rc == 0, "encode: " + err
    rc, _, err = run("decode", "-f", "-m", model, wlc, "-o", out)
    assert rc == 0, "decode: " + err
    return np.load(out), wlc


@test("npy: 6-channel uint8 round trip through a --linear --channels 6 model")
def _():
    assert TRAIN[M6][0] == 0, TRAIN[M6][2]
    a = smooth(6, 37, 53, np.uint8, 7)
    b, _ = roundtrip(M6, a, "six")
    assert b.shape == a.shape and b.dtype == np.uint8, "%s %s" % (b.shape, b.dtype)
    assert psnr(a, b, 8) > 25, "PSNR %.2f dB" % psnr(a, b, 8)


@test("npy: 5-channel uint16 round trip through a --channels 5 model")
def _():
    assert TRAIN[M5][0] == 0, TRAIN[M5][2]
    a = smooth(5, 37, 53, np.uint16, 8)
    b, _ = roundtrip(M5, a, "five")
    assert b.shape == a.shape and b.dtype == np.uint16, "%s %s" % (b.shape, b.dtype)
    assert psnr(a, b, 16) > 25, "PSNR %.2f dB" % psnr(a, b, 16)


@test("npy: a custom 5-channel uint16 model takes every rate control: -Q 0 < 50 < 90 < 100 in bytes and PSNR "
      "(100 near-lossless, over 70 dB), --bpp within its budget, --psnr 60 reached")
def _():
    a = smooth(5, 37, 53, np.uint16, 9)
    src, wlc, out = T("rc.npy"), T("rc.wlc"), T("rc.out.npy")
    np.save(src, a)

    def point(*flags):
        rc, _, err = run("encode", "-q", "-f", "-m", M5, *flags, src, "-o", wlc)
        assert rc == 0, "%s: %s" % (flags, err)
        rc, _, err = run("decode", "-q", "-f", "-m", M5, wlc, "-o", out)
        assert rc == 0, err
        return os.path.getsize(wlc), psnr(a, np.load(out), 16)
    pts = [point("-Q", str(q)) for q in (0, 50, 90, 100)]
    assert all(b[0] > a_[0] and b[1] > a_[1] for a_, b in zip(pts, pts[1:])) and pts[-1][1] > 70, pts
    size, _ = point("--bpp", "4")
    assert size <= 4 * 37 * 53 / 8, "--bpp 4: %d bytes" % size
    _, p = point("--psnr", "60")
    assert p >= 60, "--psnr 60: %.2f dB" % p


@test("npy: decode defaults to IN.npy for 6 channels; -c and '-' write the same npy bytes")
def _():
    a = smooth(6, 37, 53, np.uint8, 9)
    np.save(T("dflt.npy"), a)
    os.mkdir(T("dflt"))
    wlc = T("dflt", "x.wlc")
    assert run("encode", "-m", M6, T("dflt.npy"), "-o", wlc)[0] == 0
    rc, _, err = run("decode", "-m", M6, wlc)
    assert rc == 0 and sorted(os.listdir(T("dflt"))) == ["x.npy", "x.wlc"], err + str(os.listdir(T("dflt")))
    data = open(T("dflt", "x.npy"), "rb").read()
    rc, out, err = run("decode", "-m", M6, "-c", wlc)
    assert rc == 0 and out == data, "-c differs: " + err
    rc, out, err = run("decode", "-m", M6, "-", stdin=open(wlc, "rb").read())
    assert rc == 0 and out == data, "stdin decode differs: " + err
    b = np.load(T("dflt", "x.npy"))
    assert b.shape == a.shape and psnr(a, b, 8) > 25


@test("npy: stdin .npy encodes like the file; eval reads a .npy original")
def _():
    a = smooth(6, 37, 53, np.uint8, 10)
    np.save(T("ev.npy"), a)
    rc, enc, err = run("encode", "-m", M6, "-c", T("ev.npy"))
    assert rc == 0, err
    rc, enc2, err = run("encode", "-m", M6, "-", stdin=open(T("ev.npy"), "rb").read())
    assert rc == 0 and enc == enc2, "stdin encode differs: " + err
    open(T("ev.wlc"), "wb").write(enc)
    rc, out, err = run("eval", "-m", M6, T("ev.npy"), T("ev.wlc"))
    assert rc == 0 and "6-channel" in out.decode() and "PSNR" in out.decode(), err


def same_as_png(png, arr):
    np.save(T("same.npy"), arr)
    r1, r2 = run("encode", "-c", png), run("encode", "-c", T("same.npy"))
    assert r1[0] == 0 and r2[0] == 0, r1[2] + r2[2]
    assert r1[1] == r2[1], "the .wlc bytes differ (%d, %d bytes)" % (len(r1[1]), len(r2[1]))


@test("npy: (3, H, W) uint8 encodes with the built-in rgb model to the PNG's bytes")
def _():
    png = os.path.join(IMAGES, "garden-rgb8.png")
    same_as_png(png, np.ascontiguousarray(pngref.read(png)[0].transpose(2, 0, 1).astype(np.uint8)))


@test("npy: (3, H, W) '<u2' (and native '=u2') and (H, W) uint8 equal the 16-bit RGB and gray PNGs; a "
      "channels-last array gets the transpose")
def _():
    png = os.path.join(IMAGES, "storm-rgb16.png")
    same_as_png(png, np.ascontiguousarray(pngref.read(png)[0].transpose(2, 0, 1).astype("<u2")))
    a = np.ascontiguousarray(pngref.read(png)[0].transpose(2, 0, 1).astype("<u2"))
    with open(T("native.npy"), "wb") as f:  # np.save writes '<u2'; other writers say '=u2'
        np.lib.format.write_array_header_1_0(f, {"descr": "=u2", "fortran_order": False, "shape": a.shape})
        f.write(a.tobytes())
    assert run("encode", "-c", T("native.npy"))[1] == run("encode", "-c", png)[1]
    last = os.path.join(TMP, "last.npy")
    np.save(last, np.zeros((40, 48, 3), np.uint8))
    rc, _, err = run("encode", "-f", last, "-o", os.path.join(TMP, "last.wlc"))
    assert rc == 1 and "a.transpose(2, 0, 1)" in err, err
    png = os.path.join(IMAGES, "storm-gray8-odd.png")
    same_as_png(png, pngref.read(png)[0][:, :, 0].astype(np.uint8))


@test("npy: decode -o x.npy of an RGB file equals the PNG's pixels, (3, H, W) uint8")
def _():
    png = os.path.join(IMAGES, "garden-rgb8.png")
    assert run("encode", "-f", png, "-o", T("g.wlc"))[0] == 0
    assert run("decode", "-f", T("g.wlc"), "-o", T("g.png"))[0] == 0
    assert run("decode", "-f", T("g.wlc"), "-o", T("g.npy"))[0] == 0
    a, b = pngref.read(T("g.png"))[0].transpose(2, 0, 1), np.load(T("g.npy"))
    assert b.dtype == np.uint8 and np.array_equal(a, b), "%s %s" % (b.dtype, b.shape)


@test("npy: decode -o x.npy of an RGBA file puts alpha last, (4, H, W)")
def _():
    png = os.path.join(IMAGES, "garden-rgba8.png")
    assert run("encode", "-f", png, "-o", T("ga.wlc"))[0] == 0
    assert run("decode", "-f", T("ga.wlc"), "-o", T("ga.png"))[0] == 0
    assert run("decode", "-f", T("ga.wlc"), "-o", T("ga.npy"))[0] == 0
    a, b = pngref.read(T("ga.png"))[0].transpose(2, 0, 1), np.load(T("ga.npy"))
    assert b.shape[0] == 4 and np.array_equal(a, b), "%s %s" % (b.dtype, b.shape)


@test("npy: an image under 4 latents a side at the default rate of a neural model is warned about (one line, "
      "not with -q, -Q or a linear model), and -Q 90 brings a flat 8x8 back within 1% of the range")
def _():
    np.save(T("flat8.npy"), np.zeros((8, 8), np.uint16))
    rc, _, err = run("encode", "-f", T("flat8.npy"), "-o", T("flat8.wlc"))
    assert rc == 0 and err.count("\n") == 1 and "8x8 is under 32 pixels" in err, err
    for args in (["-q"], ["-Q", "90"], ["-m", "rgb-linear"]):
        src = T("flat8.npy") if args[0] != "-m" else T("flat8c.npy")
        np.save(T("flat8c.npy"), np.zeros((3, 8, 8), np.uint16))
        rc, _, err = run("encode", "-f", *args, src, "-o", T("flat8.wlc"))
        assert rc == 0 and err == "", (args, err)
    assert run("decode", "-f", T("flat8.wlc"), "-o", T("flat8.npy.out.npy"))[0] == 0
    run("encode", "-q", "-f", "-Q", "90", T("flat8.npy"), "-o", T("flat8.wlc"))
    assert run("decode", "-f", T("flat8.wlc"), "-o", T("flat8d.npy"))[0] == 0
    assert np.abs(np.load(T("flat8d.npy")).astype(int)).max() < 0.01 * 65535


@test("npy: a version 2.0 header is read")
def _():
    a = smooth(6, 37, 53, np.uint8, 11)
    hdr = b"{'descr': '|u1', 'fortran_order': False, 'shape': (6, 37, 53), }"
    hdr += b" " * (-(12 + len(hdr) + 1) % 64) + b"\n"
    open(T("v2.npy"), "wb").write(b"\x93NUMPY\x02\x00" + struct.pack("<I", len(hdr)) + hdr + a.tobytes())
    assert np.array_equal(np.load(T("v2.npy")), a), "numpy disagrees with the test file"
    np.save(T("v1.npy"), a)
    r1, r2 = run("encode", "-m", M6, "-c", T("v2.npy")), run("encode", "-m", M6, "-c", T("v1.npy"))
    assert r1[0] == 0 and r1[1] == r2[1], r1[2]


@test("npy: train reads .npy named on the command line and in list files; channel mismatch refused")
def _():
    lst = T("list.txt")
    open(lst, "w").write("".join(os.path.join(SIX, f) + "\n" for f in sorted(os.listdir(SIX))))
    m = T("list.wlm")
    rc, _, err = run("train", "--linear", "--channels", "6", "-J", "2", "-K", "24", "-o", m, lst)
    assert rc == 0, err
    rc, _, err = run("train", "--linear", "--channels", "6", "-J", "2", "-K", "24", "-f", "-o", m,
                     os.path.join(SIX, "s0.npy"))
    assert rc == 0, err
    rc, _, err = run("train", "--linear", "--channels", "5", "-J", "2", "-K", "24", "-f", "-o", m, SIX)
    assert rc == 1 and "s0.npy" in err and "6 channel" in err, err


@test("npy: neural training with --channels 6 on .npy, and its model decodes")
def _():
    rc, _, err = run("train", "--channels", "6", "-J", "2", "-K", "12", "-N", "8", "-R", "1", "--crop", "32",
                     "--batch", "4", "--steps", "20", "-o", MN, SIX)
    assert rc == 0, err
    a = smooth(6, 37, 53, np.uint8, 12)
    b, _ = roundtrip(MN, a, "neural")
    assert b.shape == a.shape and b.dtype == np.uint8 and psnr(a, b, 8) > 20, "PSNR %.2f" % psnr(a, b, 8)


def expect_failure(label, args, name, out, has=None):
    test("npy bad input: " + label)(lambda: fails_cleanly(args, out, None, (name, has)))


def npy(header, data=b"", version=1):
    """A .npy file with this dict text (padded like numpy's) and data."""
    h = header.encode()
    pre = 10 if version == 1 else 12
    h += b" " * (-(pre + len(h) + 1) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + size + h + data


def bad(label, content, has=None, model=M6):
    path = T("bad-" + label.replace(" ", "-").replace("'", "") + ".npy")
    open(path, "wb").write(content)
    expect_failure(label, ["encode", "-m", model, path], os.path.basename(path), T("bad.wlc"), has)


def saved(a):
    path = T("tmp-saved.npy")
    np.save(path, a)
    return open(path, "rb").read()


six = saved(smooth(6, 37, 53, np.uint8, 13))
bad("float32", saved(np.zeros((6, 37, 53), np.float32)), "'<f4'")
bad("big-endian u2", saved(np.zeros((5, 37, 53), ">u2")), "'>u2'", model=M5)
bad("int16", saved(np.zeros((6, 37, 53), np.int16)), "'<i2'")
bad("object", saved(np.array([[1, "a"]], dtype=object)), "'|O'")
bad("fortran order", saved(np.asfortranarray(np.zeros((6, 37, 53), np.uint8))), "Fortran")
bad("truncated data", six[:-1], "truncated")
bad("extra data", six + b"\0", "over-long")
bad("17 channels", saved(np.zeros((17, 8, 8), np.uint8)), "17 channels")
bad("4-D shape", saved(np.zeros((1, 6, 8, 8), np.uint8)), "4 dimension")
bad("1-D shape", saved(np.zeros(64, np.uint8)), "1 dimension")
bad("zero-size", saved(np.zeros((6, 0, 8), np.uint8)), "empty")
bad("garbage header", npy("this is not a dict"), "header")
bad("header cut short", six[:40], "truncated")
bad("header length past the end", six[:8] + b"\xff\xff" + six[10:200], "truncated")
bad("version 3.0", b"\x93NUMPY\x03\x00" + six[8:], "version")
bad("unknown key", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (6, 8, 8), 'x': 1}", bytes(384)), "key")
bad("duplicate key", npy("{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (6, 8, 8)}"), "twice")
bad("missing key", npy("{'descr': '|u1', 'shape': (6, 8, 8)}", bytes(384)), "missing")
bad("shape not a tuple", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (384)}", bytes(384)), "shape")
bad("negative dimension", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (6, -8, 8)}"), "shape")
bad("huge dimension", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 70000, 99999999999999999999)}"),
    "65536")
bad("no data for 60000x60000", npy("{'descr': '<u2', 'fortran_order': False, 'shape': (60000, 60000)}"),
    "truncated data: 0 bytes")
bad("text after the dict", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (6, 8, 8)} x", bytes(384)), "after")
expect_failure("6 channels and no -m", ["encode", T("six.npy")], "six.npy", T("bad.wlc"), "no built-in image model")
expect_failure("6 channels with -m rgb", ["encode", "-m", "rgb", T("six.npy")], "six.npy", T("bad.wlc"), "--channels 6")
expect_failure("6 channels decoded to .png", ["decode", "-m", M6, T("six.wlc")], "bad.png", T("bad.png"), ".npy")

sys.exit(finish())

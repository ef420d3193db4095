#!/usr/bin/python3
"""PNG input: the one-pass read of cli/png.c (libdeflate, own unfiltering) takes every plain
PNG, reads the pixels an independent writer (tests/py/pngref.py) put there and agrees with
libpng sample for sample; the files it leaves to libpng still read; a corrupted file never
makes the two disagree. tests/tools/png_paths reports which reader took a file and compares
them."""
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import pngref  # noqa: E402
from harness import TOOLS, fails_cleanly, scratch, finish, png_crcs_ok, test, run  # noqa: E402

TMP = scratch("walloc-png-")
T = lambda *name: os.path.join(TMP, *name)  # noqa: E731
PATHS = os.path.join(TOOLS, "png_paths")


def paths(*files):
    """{file: 'plain' | 'libpng' | 'error'} from png_paths; fails when the readers disagree."""
    p = subprocess.run([PATHS] + list(files), capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return dict(line.rsplit(" ", 1) for line in p.stdout.split("\n") if line)


def photo(h, w, c, depth, seed):
    """Noisy ramps over the full range: every filter's predictor matters, and wraps."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    peak = (1 << depth) - 1
    planes = [(x * (k + 1) * 7 + y * 5 + rng.integers(0, 40, (h, w))) * peak / (w * 7 * c + h * 5) for k in range(c)]
    return np.clip(np.stack(planes, 2), 0, peak).astype(np.uint16)


KINDS = [(c, depth) for depth in (8, 16) for c in (1, 2, 3, 4)]
EXTRA = ((b"tEXt", b"Comment\0walloc", True), (b"tIME", struct.pack(">HBBBBB", 2026, 11, 26, 9, 0, 0), False))


@test("plain PNGs (gray, gray+alpha, RGB, RGBA; 8 and 16 bits; all five row filters; split IDATs; "
      "ancillary chunks) take the one-pass read, which agrees with libpng")
def _():
    files = []
    for i, (c, depth) in enumerate(KINDS):
        files.append(T("k%d-%d.png" % (c, depth)))
        pngref.write(files[-1], photo(29, 37 + i, c, depth, i), depth, filters=(0, 1, 2, 3, 4), idat=97, extra=EXTRA)
    got = paths(*files)
    assert all(got[f] == "plain" for f in files), got


@test("the one-pass read, whose rows and joined stream lie in the image's own planes (at most 3 bytes a "
      "pixel), agrees with libpng at the edges: 1x1, 1x37, 29x1 and 2x2, one IDAT and IDATs of 1 to 7 bytes")
def _():
    files = []
    for i, (c, depth) in enumerate(KINDS):
        for h, w in ((1, 1), (1, 37), (29, 1), (2, 2)):
            for idat in (None, 1 + i % 7):
                files.append(T("e%d-%d-%dx%d-%s.png" % (c, depth, w, h, idat)))
                pngref.write(files[-1], photo(h, w, c, depth, i), depth, filters=(4, 1, 3), idat=idat)
    got = paths(*files)
    assert all(got[f] == "plain" for f in files), got


@test("the one-pass read gives the pixels the independent writer stored (encode equals the .npy "
      "of the same pixels; alpha comes back exact)")
def _():
    for i, (c, depth) in enumerate(KINDS):
        a = photo(29, 37 + i, c, depth, i)
        png, npy = T("p%d-%d.png" % (c, depth)), T("p%d-%d.npy" % (c, depth))
        pngref.write(png, a, depth, filters=(4, 3, 2, 1, 0), idat=61)
        colour = a[:, :, : 3 if c >= 3 else 1].transpose(2, 0, 1)
        np.save(npy, np.ascontiguousarray(colour[0] if c < 3 else colour).astype(np.uint8 if depth == 8 else "<u2"))
        rc1, enc, err1 = run("encode", "-c", png)
        rc2, ref, err2 = run("encode", "-c", npy)
        assert rc1 == 0 and rc2 == 0, err1 + err2
        if c in (1, 3):
            assert enc == ref, "%d channels, %d bits: .wlc differs from the .npy's" % (c, depth)
            continue
        open(T("a.wlc"), "wb").write(enc)
        open(T("r.wlc"), "wb").write(ref)
        for src, dst in (("a.wlc", "a.npy"), ("r.wlc", "r.npy")):
            assert run("latents", "-f", T(src), "-o", T("l" + dst))[0] == 0
        assert np.array_equal(np.load(T("la.npy")), np.load(T("lr.npy"))), "%d channels: latents differ" % c
        assert run("decode", "-f", T("a.wlc"), "-o", T("a.npy"))[0] == 0
        assert np.array_equal(np.load(T("a.npy"))[-1], a[:, :, -1]), "%d channels, %d bits: alpha differs" % (c, depth)


@test("the PNGs walloc writes: every chunk's CRC right, and an independent reader (pngref) gets the samples of "
      "the .npy decode (gray, gray+alpha, RGB, RGBA; 8 and 16 bits; over 512 KB of rows, written in pieces: the "
      "same bytes by 3 threads and by one)")
def _():
    cases = [(c, depth, 41, 33 + i, ("-T1",)) for i, (c, depth) in enumerate(KINDS)]
    cases += [(4, 16, 301, 499, ("-T1", "-T3")), (3, 8, 403, 701, ("-T1", "-T3"))]
    for i, (c, depth, h, w, threads) in enumerate(cases):
        a = photo(h, w, c, depth, 10 + i)
        src, wlc, png, npy = T("w.png"), T("w.wlc"), T("w-out.png"), T("w-out.npy")
        pngref.write(src, a, depth)
        assert run("encode", "-f", src, "-o", wlc)[0] == 0
        assert run("decode", "-f", wlc, "-o", npy)[0] == 0
        written = set()
        for t in threads:
            assert run("decode", t, "-f", wlc, "-o", png)[0] == 0
            written.add(open(png, "rb").read())
            assert len(written) == 1, "%d channels, %d bits: %s wrote other bytes than %s" % (c, depth, t, threads[0])
            assert png_crcs_ok(png), "%d channels, %d bits, %s: a chunk's CRC is wrong" % (c, depth, t)
            got, ref = pngref.read(png)[0], np.load(npy)  # the .npy: (C, H, W), alpha last when there is one
            assert np.array_equal(got.transpose(2, 0, 1), ref), "%d channels, %d bits, %s: PNG samples differ" % (c, depth, t)
            if c in (2, 4):
                assert np.array_equal(got[:, :, -1], a[:, :, -1]), "%d channels: alpha differs" % c


@test("PNGs the one-pass read leaves to libpng (palette, tRNS, interlaced, a chunk between IDATs, "
      "an ancillary chunk with a bad CRC) still read through libpng")
def _():
    a = photo(21, 33, 3, 8, 9)
    pal = T("palette.png")
    Image.fromarray(a.astype(np.uint8), "RGB").convert("P", palette=Image.ADAPTIVE).save(pal)
    trns, inter, split, badcrc = T("trns.png"), T("inter.png"), T("split.png"), T("badcrc.png")
    pngref.write(trns, a, extra=((b"tRNS", struct.pack(">HHH", 1, 2, 3), True),))
    pngref.write(inter, a, interlace=True)
    pngref.write(split, a, idat=200)
    b = open(split, "rb").read()
    second = b.index(b"IDAT", b.index(b"IDAT") + 4) - 4
    open(split, "wb").write(b[:second] + struct.pack(">I", 0) + b"teXt" + struct.pack(">I", 0x7b7b7b7b) + b[second:])
    pngref.write(badcrc, a, extra=((b"tEXt", b"Comment\0x", True),))
    b = bytearray(open(badcrc, "rb").read())
    b[b.index(b"tEXt") + 4 + 9] ^= 1
    open(badcrc, "wb").write(bytes(b))
    got = paths(pal, trns, inter, split, badcrc)
    assert all(v != "plain" for v in got.values()), got
    assert got[pal] == got[trns] == got[inter] == "libpng", got
    for f in (pal, trns, inter):
        assert run("encode", "-c", f)[0] == 0, f


@test("a PNG file is read into the image's own memory, a pipe into memory of its own: the same .wlc from both, for "
      "every kind and edge the one-pass read takes and for the files it leaves to libpng (the same refusal of a "
      "chunk between IDATs)")
def _():
    a = photo(21, 33, 3, 8, 9)
    files = [T("k%d-%d.png" % kind) for kind in KINDS]
    files += [T(f) for f in ("trns.png", "inter.png", "split.png", "badcrc.png")]
    files += [T("e%d-%d-%dx%d-%s.png" % (c, depth, w, h, idat)) for i, (c, depth) in enumerate(KINDS)
              for h, w in ((1, 1), (29, 1)) for idat in (None, 1 + i % 7)]
    assert all(os.path.exists(f) for f in files), "the files of the tests above"
    pngref.write(T("big-stream.png"), np.clip(a * 0 + np.arange(33)[None, :, None] * 7, 0, 255).astype(np.uint8),
                 filters=(0,), idat=5)
    files.append(T("big-stream.png"))
    b = photo(16, 16, 3, 8, 3)  # its rows and stream fit in the planes' 3072 bytes below 2288 (see plain_into)
    for name, room, idat in (("fits.png", 2288, 50), ("fits1.png", 2288, None), ("over.png", 2289, 50)):
        pad = lambda k: ((b"tEXt", b"Comment\0" + b"x" * k, True),)  # noqa: E731
        pngref.write(T(name), b, filters=(4,), idat=idat, extra=pad(0))
        pngref.write(T(name), b, filters=(4,), idat=idat, extra=pad(room - os.path.getsize(T(name))))
        assert os.path.getsize(T(name)) == room, name
        files.append(T(name))
    for f in files:
        rc1, by_file, err1 = run("encode", "-c", f)
        rc2, by_pipe, err2 = run("encode", "-c", "-", stdin=open(f, "rb").read())
        said = err1.replace(f, "IN"), err2.replace("(stdin)", "IN").replace("walloc: -:", "walloc: IN:")
        assert (rc1, by_file, said[0]) == (rc2, by_pipe, said[1]), "%s: %s %s" % (f, err1, err2)
        assert rc1 == 0 or f.endswith("split.png"), "%s: %s" % (f, err1)


@test("palette PNGs of 1, 2, 4 and 8 bits, with and without tRNS, read as their palette's RGB (encode equals the "
      ".npy of PIL's RGB) and alpha (exact); an index past the palette is refused by both readers, file and pipe")
def _():
    a = photo(23, 31, 3, 8, 5).astype(np.uint8)
    for bits, colours in ((1, 2), (2, 4), (4, 11), (8, 200)):
        for trns in (False, True):
            im = Image.fromarray(a, "RGB").quantize(colours)
            png, npy = T("pal%d%d.png" % (bits, trns)), T("pal%d%d.npy" % (bits, trns))
            im.save(png, bits=bits, **({"transparency": bytes(range(0, 250, 37))[:colours]} if trns else {}))
            rgba = np.asarray(Image.open(png).convert("RGBA"))
            np.save(npy, np.ascontiguousarray(rgba[:, :, :3].transpose(2, 0, 1)))
            rc1, enc, err1 = run("encode", "-c", png)
            rc2, ref, err2 = run("encode", "-c", npy)
            assert rc1 == 0 and rc2 == 0 and paths(png)[png] == "libpng", err1 + err2
            if not trns:
                assert enc == ref, "%d bits: .wlc differs from the .npy's" % bits
                continue
            open(T("pal.wlc"), "wb").write(enc)
            assert run("decode", "-f", T("pal.wlc"), "-o", T("pal.npy"))[0] == 0
            assert np.array_equal(np.load(T("pal.npy"))[-1], rgba[:, :, 3]), "%d bits: alpha differs" % bits
    crit = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    idx = zlib.compress(b"".join(b"\0" + bytes([0, 1, 2, 3]) for _ in range(3)))  # 3 past a palette of 3
    body = b"\x89PNG\r\n\x1a\n" + crit(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 3, 0, 0, 0)) + \
        crit(b"PLTE", bytes(range(9))) + crit(b"IDAT", idx) + crit(b"IEND", b"")
    open(T("index.png"), "wb").write(body)
    fails_cleanly(["encode", T("index.png")], T("x.wlc"), has=("palette index past the palette",))
    fails_cleanly(["encode", "-"], T("x.wlc"), stdin=body, has=("palette index past the palette",))
    assert paths(T("index.png"))[T("index.png")] == "error"


@test("the PNG specification's refusals: an unknown critical chunk (before or after IDAT), data after the "
      "compressed image and more image data than the image holds, in a file the one-pass read takes and in an interlaced one libpng reads; file and pipe "
      "alike; the read by rows refuses them too")
def _():
    a = photo(19, 27, 3, 8, 4)
    for interlace in (False, True):
        good = T("good%d.png" % interlace)
        pngref.write(good, a, interlace=interlace)
        b = open(good, "rb").read()
        iend = b.rindex(b"IEND") - 4
        idat = b.index(b"IDAT") - 4
        crit = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
        cases = {"after.png": b[:iend] + crit(b"ZZZZ", b"x") + b[iend:],
                 "before.png": b[:idat] + crit(b"QQQQ", b"") + b[idat:]}
        n = struct.unpack(">I", b[idat:idat + 4])[0]
        data = b[idat + 8:idat + 8 + n] + b"\0\0junk"
        cases["extra.png"] = b[:idat] + crit(b"IDAT", data) + b[idat + 12 + n:]
        more = zlib.compress(zlib.decompress(b[idat + 8:idat + 8 + n]) + b"\0" * 61)  # a row past the image
        cases["more.png"] = b[:idat] + crit(b"IDAT", more) + b[idat + 12 + n:]
        for name, body in cases.items():
            path = T("%d-%s" % (interlace, name))
            open(path, "wb").write(body)
            say = {"extra.png": "data after the end", "more.png": "more image data than its size holds"}.get(
                name, "unknown critical PNG chunk")
            fails_cleanly(["encode", path], T("x.wlc"), has=(say,))
            paths(path)  # the read by rows refuses it too
            fails_cleanly(["encode", "-"], T("x.wlc"), stdin=body, has=(say,))
        assert run("encode", "-c", good)[0] == 0, "the good file"


@test("an IHDR libpng refuses is named (a width over 65536, width 0, a colour type that does not exist), and a "
      "palette PNG whose tRNS has more entries than its palette is refused, not read opaque; file and pipe alike")
def _():
    crit = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = lambda w, h, depth, ctype: crit(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))  # noqa: E731
    idx = zlib.compress(b"".join(b"\0" + bytes(range(4)) for _ in range(3)))
    cases = {"wide.png": (sig + ihdr(65537, 1, 8, 0) + crit(b"IDAT", zlib.compress(b"\0" + b"\x80" * 65537)) +
                          crit(b"IEND", b""), "width or height over 65536"),
             "zero.png": (sig + ihdr(0, 4, 8, 0) + crit(b"IDAT", idx) + crit(b"IEND", b""), "width is zero"),
             "ctype.png": (sig + ihdr(4, 3, 8, 5) + crit(b"IDAT", idx) + crit(b"IEND", b""), "color type"),
             "trns.png": (sig + ihdr(4, 3, 8, 3) + crit(b"PLTE", bytes(range(12))) + crit(b"tRNS", bytes(6)) +
                          crit(b"IDAT", idx) + crit(b"IEND", b""), "tRNS")}
    for name, (body, say) in cases.items():
        open(T(name), "wb").write(body)
        fails_cleanly(["encode", T(name)], T("x.wlc"), has=(say,))
        fails_cleanly(["encode", "-"], T("x.wlc"), stdin=body, has=(say,))
    ok = sig + ihdr(4, 3, 8, 3) + crit(b"PLTE", bytes(range(12))) + crit(b"tRNS", bytes(4)) + crit(b"IDAT", idx) + \
        crit(b"IEND", b"")
    open(T("trns-ok.png"), "wb").write(ok)
    rc, out, err = run("encode", "-c", T("trns-ok.png"))
    assert rc == 0 and json.loads(run("info", "--json", "-", stdin=out)[1])["alpha"] is True, err
    open(T("trns-ok.wlc"), "wb").write(out)
    rc, js, err = run("eval", "--json", T("trns-ok.png"), T("trns-ok.wlc"))
    assert rc == 0 and json.loads(js)["alpha"] is True, (js, err)  # as info --json has it


@test("corrupted PNGs (300 single-byte changes) never make the two readers disagree")
def _():
    a = photo(17, 23, 4, 8, 5)
    src = T("fuzz.png")
    pngref.write(src, a, filters=(0, 1, 2, 3, 4), idat=50)
    good = open(src, "rb").read()
    rng = np.random.default_rng(1)
    files = []
    for i in range(300):
        b = bytearray(good)
        b[rng.integers(8, len(b))] ^= 1 << rng.integers(0, 8)
        files.append(T("fuzz%03d.png" % i))
        open(files[-1], "wb").write(bytes(b))
    got = paths(*files)
    assert not [f for f, v in got.items() if v == "plain"], "a corrupted file read as plain"


sys.exit(finish())

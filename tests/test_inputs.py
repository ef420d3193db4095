#!/usr/bin/python3
"""Inputs that are not what a command reads (issue 21): every command tells from the first 4 KB
that /dev/zero, random bytes or a huge text file is no .wlc, PNG, .npy, audio file or list of
paths, and says so in one line (exit status 1) without reading on: under a 512 MB address-space
limit, and having read at most 64 KB of an endless pipe. A file and a pipe of the
same bytes read alike."""
import io
import os
import resource
import struct
import subprocess
import sys
import zlib

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import finish, peak_rss_kb, png_crcs_ok, test, run, garden_scratch, SANITIZED, WALLOC  # noqa: E402

TMPDIR, T, RGB, WLC = garden_scratch("walloc-inputs-")
COMMANDS = {"info": ["info", "{}"], "decode": ["decode", "{}", "-o", T("x.png")], "latents": ["latents", "{}", "-o", T("x.npy")],
            "eval (the original)": ["eval", "{}", WLC], "eval (the .wlc)": ["eval", RGB, "{}"],
            "encode": ["encode", "{}", "-o", T("x.wlc")], "train": ["train", "-o", T("x.wlm"), "{}"]}


def limited():
    if not SANITIZED:
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))  # OpenBLAS reserves 128 MB at start


@test("inputs: /dev/zero is refused at once by every command, in one line, within 512 MB of address space")
def _():
    for name, args in COMMANDS.items():
        p = subprocess.run([WALLOC] + [a.format("/dev/zero") for a in args], capture_output=True, text=True,
                           preexec_fn=limited, timeout=60)
        lines = p.stderr.strip().split("\n")
        assert p.returncode == 1 and len(lines) == 1 and "/dev/zero" in lines[0] and "memory" not in lines[0], \
            (name, p.returncode, p.stderr)


@test("inputs: an endless pipe of random bytes is refused having read at most 64 KB of it (issue 21): at most "
      "128 KB written, the pipe's 64 KB buffer included")
def _():
    chunk = os.urandom(1 << 12)
    for name, args in COMMANDS.items():
        if name == "train":  # train reads files and list files, not stdin
            continue
        p = subprocess.Popen([WALLOC] + [a.format("-") for a in args], stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, preexec_fn=limited)
        sent = 0
        try:
            while sent < (64 << 20):
                p.stdin.write(chunk)
                p.stdin.flush()
                sent += len(chunk)
        except BrokenPipeError:
            pass
        err = p.communicate(timeout=60)[1].decode()
        assert p.returncode == 1 and sent <= (128 << 10) and "(stdin)" in err, (name, p.returncode, sent, err)


@test("inputs: an 80 MB text file given to train is no list of paths (64 MB at most), in one line")
def _():
    with open(T("big.txt"), "wb") as f:
        f.truncate(0)
        line = b"/no/such/file.png\n" * 4096
        for _ in range((80 << 20) // len(line)):
            f.write(line)
    p = subprocess.run([WALLOC, "train", "-o", T("x.wlm"), T("big.txt")], capture_output=True, text=True,
                       preexec_fn=limited, timeout=60)
    assert p.returncode == 1 and "list of paths" in p.stderr and len(p.stderr.strip().split("\n")) == 1, p.stderr


@test("inputs: a WAV whose data size is 0 (to the end) codes the same from a file and from a pipe")
def _():
    sf.write(T("w.wav"), 0.3 * np.sin(np.arange(48000) / 10.0), 48000, subtype="PCM_16")
    b = bytearray(open(T("w.wav"), "rb").read())
    at = b.find(b"data") + 4
    b[at:at + 4] = struct.pack("<I", 0)
    open(T("w0.wav"), "wb").write(b)
    rc, from_file, err = run("encode", "-c", T("w0.wav"))
    rc2, from_pipe, err2 = run("encode", "-", stdin=bytes(b))
    assert rc == 0 and rc2 == 0 and from_file == from_pipe, (rc, err, rc2, err2)
    rc, out, err = run("info", "--json", "-", stdin=from_file)
    assert rc == 0 and b'"frames": 48000' in out, out


@test("inputs: an image costs at most 72 bytes of memory per pixel to encode or decode (man walloc, LIMITS): "
      "2048x2048 RGB, rgb with a detail layer (-Q 75)")
def _():
    if SANITIZED:
        print("  (not measured: an AddressSanitizer build holds freed memory in its quarantine)")
        return
    from PIL import Image
    side = 2048
    ramp = np.linspace(0, 200, side)
    a = (np.random.default_rng(3).random((side, side, 3)) * 40 + ramp[None, :, None]).astype(np.uint8)
    src, wlc = T("big.png"), T("big.wlc")
    Image.fromarray(a).save(src)
    base = peak_rss_kb("info", "--json", os.path.join(os.path.dirname(__file__), "..", "testdata", "wlc",
                                                       "garden-rgb8-v1.wlc"))  # the program and its models
    enc = peak_rss_kb("encode", "-q", "-f", "-Q", "75", src, "-o", wlc)
    dec = peak_rss_kb("decode", "-q", "-f", wlc, "-o", T("out.png"))
    per = [(kb - base) * 1024 / side ** 2 for kb in (enc, dec)]
    print("  bytes per pixel: encode %.1f, decode %.1f" % tuple(per))
    assert max(per) <= 72, "bytes per pixel over the program's own %d KB: encode %.1f, decode %.1f" % (base, *per)



@test("inputs: decoding an image of over 4 Mpixel takes memory by its width, not its height (stripes): "
      "1024 x 18432 gray needs at most 1.5 bytes per pixel more than 1024 x 4608 (the latents and the entropy "
      "decoder's work on one plane; decoding whole took about 50), to PNG and to .npy")
def _():
    if SANITIZED:
        print("  (not measured: an AddressSanitizer build holds freed memory in its quarantine)")
        return
    kb, npy_kb = [], []
    for h in (4608, 18432):
        rows = np.arange(h, dtype=np.float32)[:, None]
        a = (100 + 60 * np.sin(rows / 37.0) * np.cos(np.arange(1024)[None, :] / 23.0)).astype(np.uint8)
        src, wlc = T("tall%d.npy" % h), T("tall%d.wlc" % h)
        np.save(src, a)
        rc, _, err = run("encode", "-q", "-f", "-m", "gray", src, "-o", wlc)
        assert rc == 0, err
        kb.append(peak_rss_kb("decode", "-q", "-f", wlc, "-o", T("tall.png")))
        npy_kb.append(peak_rss_kb("decode", "-q", "-f", wlc, "-o", T("tall-out.npy")))
        assert png_crcs_ok(T("tall.png")), "a chunk of the PNG written in stripes has a wrong CRC"
        if h == 4608:  # the PNG written a stripe at a time holds the samples of the whole decode: both encode alike
            assert run("decode", "-q", "-f", wlc, "-o", T("tall.npy"))[0] == 0
            assert run("encode", "-q", "-f", "-m", "gray", T("tall.png"), "-o", T("a.wlc"))[0] == 0
            assert run("encode", "-q", "-f", "-m", "gray", T("tall.npy"), "-o", T("b.wlc"))[0] == 0
            assert open(T("a.wlc"), "rb").read() == open(T("b.wlc"), "rb").read(), "PNG by stripes differs"
    for name, k in (("PNG", kb), (".npy", npy_kb)):
        grew = (k[1] - k[0]) * 1024 / (1024 * (18432 - 4608))
        print("  %s: peak RSS %d and %d KB: %.3f byte per added pixel" % (name, k[0], k[1], grew))
        assert grew <= 1.5, "decode to %s: memory grows %.2f bytes per pixel of height" % (name, grew)



@test("inputs: a PNG or .npy over 4 Mpixel encodes from its rows a block at a time (wl_encode_rows) to the bytes "
      "of the same image encoded whole (RGB .npy from a pipe), 8-bit RGB and 16-bit gray; a .npy's rows are read "
      "at their place in a file and in order from a pipe; decoded in stripes, the .npy holds the PNG's samples")
def _():
    from PIL import Image
    rng = np.random.default_rng(5)
    for mode, model, shape, dtype in (("RGB", "rgb", (2050, 2100, 3), np.uint8), ("I;16", "gray", (2049, 2051), np.uint16)):
        top = 255 if dtype == np.uint8 else 65535
        ramp = np.linspace(0, top * 0.6, shape[1])
        a = np.clip(rng.random(shape) * top * 0.3 + (ramp[None, :, None] if len(shape) == 3 else ramp[None, :]), 0, top)
        a = a.astype(dtype)
        png, npy = T("rows.png"), T("rows.npy")
        Image.fromarray(a if len(shape) == 3 else a.astype(np.uint16), mode).save(png, compress_level=1)
        np.save(npy, np.moveaxis(a, 2, 0) if len(shape) == 3 else a)
        outs = []
        for src, stdin in ((png, None), (npy, None), ("-", open(npy, "rb").read())):
            rc, _, err = run("encode", "-q", "-f", "-m", model, src, "-o", T("rows.wlc"), stdin=stdin)
            assert rc == 0, err
            outs.append(open(T("rows.wlc"), "rb").read())
        assert outs[0] == outs[1] == outs[2], "%s: %s bytes" % (model, [len(o) for o in outs])
        # decoded in stripes: the .npy's planes, written each at its place, hold the PNG's samples
        assert run("decode", "-q", "-f", T("rows.wlc"), "-o", T("back.npy"))[0] == 0
        assert run("decode", "-q", "-f", T("rows.wlc"), "-o", T("back.png"))[0] == 0
        back = np.load(T("back.npy"))
        png_back = np.asarray(Image.open(T("back.png")))
        assert np.array_equal(back, np.moveaxis(png_back, 2, 0) if len(shape) == 3 else png_back[None]), model


@test("inputs: an RGBA PNG over 4 Mpixel encodes by rows with its alpha, from a file and from a pipe to the same "
      "bytes: the colour latents are those of the RGB PNG, and the alpha comes back exactly")
def _():
    from PIL import Image
    rng = np.random.default_rng(7)
    rgb = (rng.random((2050, 2100, 3)) * 60 + np.linspace(0, 180, 2100)[None, :, None]).astype(np.uint8)
    alpha = np.where(rng.random((2050, 2100)) < 0.5, 255, rng.integers(0, 256, (2050, 2100))).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(T("colour.png"), compress_level=1)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(T("rgba.png"), compress_level=1)
    outs = []
    for src, stdin in ((T("rgba.png"), None), ("-", open(T("rgba.png"), "rb").read())):
        rc, _, err = run("encode", "-q", "-f", src, "-o", T("rgba.wlc"), stdin=stdin)
        assert rc == 0, err
        outs.append(open(T("rgba.wlc"), "rb").read())
    assert outs[0] == outs[1], [len(o) for o in outs]
    assert run("encode", "-q", "-f", T("colour.png"), "-o", T("colour.wlc"))[0] == 0
    for f in ("rgba", "colour"):
        assert run("latents", "-q", "-f", T(f + ".wlc"), "-o", T(f + ".npy"))[0] == 0
    assert np.array_equal(np.load(T("rgba.npy")), np.load(T("colour.npy")))
    assert run("decode", "-q", "-f", T("rgba.wlc"), "-o", T("back.png"))[0] == 0
    back = np.asarray(Image.open(T("back.png")))
    assert back.shape == (2050, 2100, 4) and np.array_equal(back[:, :, 3], alpha)


def png_header(w, h, colour=2, interlace=0, data=b""):
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + (chunk(b"IDAT", data) if data else b"") + chunk(b"IEND", b"")


@test("inputs: a PNG whose unfiltered rows would take over 8 times the file (flat 4096 x 4096 and 4096 x 8192 "
      "RGB, 57 and 115 KB) encodes through libpng by rows: at most 1.5 bytes more per added pixel (held in memory "
      "as unfiltered rows, over 3), the same bytes from a pipe")
def _():
    flat = bytes([1] + [90, 120, 200] * 4096)
    for h in (4096, 8192):
        body = png_header(4096, h, data=zlib.compress(flat * h, 9))
        open(T("flat%d.png" % h), "wb").write(body)
        assert run("encode", "-q", "-f", "-", "-o", T("pipe.wlc"), stdin=body)[0] == 0
        assert run("encode", "-q", "-f", T("flat%d.png" % h), "-o", T("file.wlc"))[0] == 0
        assert open(T("pipe.wlc"), "rb").read() == open(T("file.wlc"), "rb").read(), h
    if SANITIZED:
        print("  (memory not measured: an AddressSanitizer build holds freed memory in its quarantine)")
        return
    kb = [peak_rss_kb("encode", "-q", "-f", T("flat%d.png" % h), "-o", T("flat.wlc")) for h in (4096, 8192)]
    grew = (kb[1] - kb[0]) * 1024 / (4096 * 4096)
    print("  peak RSS %d and %d KB: %.2f byte per added pixel" % (kb[0], kb[1], grew))
    assert grew <= 1.5, grew


@test("inputs: a flat 2048 x 2048 RGB PNG of 17 KB (over 2 Mpixel) encodes by rows: at most 12 bytes per pixel over "
      "the program's own memory (held whole, 17), to the bytes of the same image encoded whole")
def _():
    flat = bytes([0] + [90, 120, 200] * 2048)  # filter None: every pixel (90, 120, 200)
    open(T("flat2k.png"), "wb").write(png_header(2048, 2048, data=zlib.compress(flat * 2048, 9)))
    # the same image through the whole-image path: a .npy from a pipe (several planes) is held whole
    npy = io.BytesIO()
    np.save(npy, np.broadcast_to(np.array([90, 120, 200], np.uint8)[:, None, None], (3, 2048, 2048)))
    assert run("encode", "-q", "-f", "-", "-o", T("whole.wlc"), stdin=npy.getvalue())[0] == 0
    assert run("encode", "-q", "-f", T("flat2k.png"), "-o", T("rows.wlc"))[0] == 0
    assert open(T("whole.wlc"), "rb").read() == open(T("rows.wlc"), "rb").read()
    if SANITIZED:
        print("  (memory not measured: an AddressSanitizer build holds freed memory in its quarantine)")
        return
    base = peak_rss_kb("info", "--json", os.path.join(os.path.dirname(__file__), "..", "testdata", "wlc",
                                                       "garden-rgb8-v1.wlc"))  # the program and its models
    per = (peak_rss_kb("encode", "-q", "-f", T("flat2k.png"), "-o", T("rows.wlc")) - base) * 1024 / 2048 ** 2
    print("  %.1f bytes per pixel over the program's %d KB" % (per, base))
    assert per <= 12, per


@test("inputs: images over 64 Mpixel (10000x10000) encode by rows only: a cut PNG (with alpha too) or .npy says "
      "where it ends, -Q or a target and interlacing are refused before the rows are read, in one line, with no output")
def _():
    rows = zlib.compress(bytes(3 * 10000 + 1) * 3)  # three rows of 10000 RGB pixels, then nothing
    npy_head = b"{'descr': '|u1', 'fortran_order': False, 'shape': (10000, 10000), }"
    npy_head = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + npy_head.ljust(117) + b"\n"
    cases = [("cut.png", png_header(10000, 10000, data=rows), [], "truncated or corrupt PNG"),
             ("cutpipe.png", png_header(10000, 10000, data=rows), ["-"], "truncated or corrupt PNG"),
             ("q.png", png_header(10000, 10000, data=rows), ["-Q", "50"], "only a plain encode"),
             ("alpha.png", png_header(10000, 10000, colour=6, data=rows), [], "truncated or corrupt PNG"),
             ("interlaced.png", png_header(10000, 10000, interlace=1, data=rows), [], "interlaced"),
             ("cut.npy", npy_head + bytes(30000), [], "truncated data"),
             ("cutpipe.npy", npy_head + bytes(30000), ["-"], "truncated data"),
             ("psnr.npy", npy_head + bytes(30000), ["--psnr", "30"], "only a plain encode")]
    for name, body, extra, say in cases:
        src = T(name)
        open(src, "wb").write(body)
        pipe = extra[:1] == ["-"]
        out = T(name + ".wlc")
        args = ["encode", "-q"] + (extra[1:] if pipe else extra) + (["-", "-o", out] if pipe else [src, "-o", out])
        p = subprocess.run([WALLOC] + args, input=body if pipe else None, capture_output=True, timeout=120)
        err = p.stderr.decode().strip()
        assert p.returncode == 1 and say in err and len(err.split("\n")) == 1, (name, p.returncode, err)
        assert not os.path.exists(out), name


sys.exit(finish())

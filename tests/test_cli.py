#!/usr/bin/python3
"""CLI tests: round trips of every fixture (bit depth, channels, alpha preserved), pipelines,
thread-count invariance, --keep, .npy latents, overwrite rules, and every bad input named in
the issue (one stderr line naming the file, exit status 1, no output file)."""
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import pngref  # noqa: E402
from harness import fails_cleanly, finish, scratch, test, run, psnr, with_crc, patched, IMAGES, WALLOC, TOP  # noqa: E402





tmp = scratch("walloc-cli-")
T = lambda name: os.path.join(tmp, name)  # noqa: E731


def roundtrip(png, *opts):
    base = os.path.basename(png)[:-4]
    wlc, out = T(base + ".wlc"), T(base + ".out.png")
    for f in (wlc, out):
        if os.path.exists(f):
            os.remove(f)
    rc, _, err = run("encode", png, "-o", wlc, *opts)
    assert rc == 0, "encode %s: %s" % (png, err)
    rc, _, err = run("decode", wlc, "-o", out)
    assert rc == 0, "decode %s: %s" % (wlc, err)
    return wlc, out


FLOOR = {"garden-rgb8": 27.0, "storm-gray8-odd": 27.0, "storm-rgb16": 24.0, "garden-rgba8": 27.0,
         "storm-graya8-odd": 24.0}
for name in sorted(os.listdir(IMAGES)):
    @test("round trip " + name)
    def _(name=name):
        png = os.path.join(IMAGES, name)
        wlc, out = roundtrip(png)
        a, da = pngref.read(png)
        b, db = pngref.read(out)
        assert a.shape == b.shape and da == db, "shape/depth %s %d -> %s %d" % (a.shape, da, b.shape, db)
        ncol = 3 if a.shape[2] >= 3 else 1
        if a.shape[2] in (2, 4):
            assert np.array_equal(a[..., -1], b[..., -1]), "alpha changed"
        p = psnr(a[..., :ncol], b[..., :ncol], da)
        assert p >= FLOOR[name[:-4]], "PSNR %.2f dB below %.1f" % (p, FLOOR[name[:-4]])


RGB = os.path.join(IMAGES, "garden-rgb8.png")


@test("stdin/stdout pipeline equals file output")
def _():
    wlc, out = roundtrip(RGB)
    data = open(RGB, "rb").read()
    rc, enc, err = run("encode", "-", stdin=data)
    assert rc == 0 and enc == open(wlc, "rb").read(), "stdin encode differs: " + err
    rc, dec, err = run("decode", "-c", "-", stdin=enc)
    assert rc == 0 and dec == open(out, "rb").read(), "stdin decode differs: " + err


@test("encoded bytes identical for -T1 and -T2")
def _():
    r1, r2 = [run("encode", "-T%d" % t, "-c", RGB) for t in (1, 2)]
    assert r1[0] == 0 and r1[1] == r2[1], "-T1 and -T2 differ"


@test("a value attached to its option (--quality=50, -Q50, -j1, -mrgb) is the value given after it; a flag with "
      "one (--json=1) and a hexadecimal target (--size 0x1000) are usage errors")
def _():
    ref = run("encode", "-Q", "50", "-m", "rgb", "-c", RGB)
    assert ref[0] == 0, ref[2]
    for args in (["--quality=50", "-mrgb"], ["-Q50", "-j1", "-mrgb"]):
        rc, out, err = run("encode", *args, "-c", RGB)
        assert rc == 0 and out == ref[1], (args, err)
    for args in (["--json=1"], ["--size", "0x1000"], ["--bpp=0x1p-2"]):
        rc, out, err = run("encode", *args, "-c", RGB)
        assert rc == 2 and not out, (args, rc, err)


@test("OpenMP threads sleep while they wait (no spinning), unless OMP_WAIT_POLICY says otherwise")
def _():
    def spin(policy):
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
        env["OMP_DISPLAY_ENV"] = "verbose"
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        err = subprocess.run([WALLOC, "encode", "-T2", "-c", RGB], env=env, capture_output=True).stderr.decode()
        # libgomp's spin count, or clang's libomp's block time (ms)
        return [l.split("'")[1] for l in err.splitlines() if "GOMP_SPINCOUNT" in l or "KMP_BLOCKTIME" in l]
    assert spin(None) == ["0"], "default spin count %s" % spin(None)
    assert spin("active") not in (["0"], []), "OMP_WAIT_POLICY=active ignored"


@test("--keep k: rate and PSNR rise with k, for every k in 1..K")
def _():
    sizes, quality = [], []
    a, d = pngref.read(RGB)
    wlc, _ = roundtrip(RGB)
    K = json.loads(run("info", "--json", wlc)[1])["K"]
    for k in range(1, K + 1):
        wlc, out = roundtrip(RGB, "--keep", str(k))
        sizes.append(os.path.getsize(wlc))
        quality.append(psnr(a, pngref.read(out)[0], d))
        rc, info, _ = run("info", "--json", wlc)
        assert rc == 0 and json.loads(info)["keep"] == k
    assert sizes == sorted(sizes) and quality == sorted(quality), "sizes %s psnr %s" % (sizes, quality)


@test("latents as .npy: numpy.load reads (k, h, w) int8, --keep is a prefix")
def _():
    full, part = T("full.wlc"), T("part.wlc")
    assert run("encode", "-f", RGB, "-o", full)[0] == 0
    assert run("encode", "-f", "--keep", "5", RGB, "-o", part)[0] == 0
    assert run("latents", "-f", full, "-o", T("full.npy"))[0] == 0
    assert run("latents", "-f", part, "-o", T("part.npy"))[0] == 0
    q, p = np.load(T("full.npy")), np.load(T("part.npy"))
    info = json.loads(run("info", "--json", full)[1])
    assert q.dtype == np.int8 and list(q.shape) == info["latent_shape"], "%s %s" % (q.dtype, q.shape)
    assert p.shape[0] == 5 and np.array_equal(p, q[:5]), "keep 5 is not a prefix"
    assert q.std(axis=(1, 2))[0] > q.std(axis=(1, 2))[-1], "channels not ordered by energy"


@test("--refine 10: the plain decoder reads it; 10 log10(MSE) + 10 bpp, measured here, drops by 0.1 dB or more")
def _():
    a, d = pngref.read(RGB)
    cost = []
    for opts in ((), ("--refine", "10")):
        wlc, out = roundtrip(RGB, "-f", *opts)
        b, _ = pngref.read(out)
        mse = np.mean((a.astype(float) - b) ** 2) / (2 ** d - 1) ** 2
        cost.append(10 * np.log10(mse) + 10 * 8.0 * os.path.getsize(wlc) / (a.shape[0] * a.shape[1]))
    assert cost[1] < cost[0] - 0.1, "cost %.3f refined, %.3f plain" % (cost[1], cost[0])


@test("--refine out of range (-1, 1001) is a usage error: exit status 2, naming the option")
def _():
    for v in ("-1", "1001"):
        rc, _, err = run("encode", "-f", "--refine", v, RGB, "-o", T("range.wlc"))
        assert rc == 2 and "--refine" in err and not os.path.exists(T("range.wlc")), "%d %s" % (rc, err)


@test("an Adam7-interlaced PNG encodes to the same bytes as the plain one (RGB and gray+alpha)")
def _():
    for name in ("garden-rgb8.png", "storm-graya8-odd.png"):
        a, _ = pngref.read(os.path.join(IMAGES, name))
        inter = T("interlaced-" + name)
        pngref.write(inter, a, interlace=True)
        plain, _ = roundtrip(os.path.join(IMAGES, name))
        ours, _ = roundtrip(inter)
        assert open(plain, "rb").read() == open(ours, "rb").read(), name


@test("existing output refused without -f, replaced with -f")
def _():
    out = T("exists.wlc")
    open(out, "w").write("keep me")
    rc, _, err = run("encode", RGB, "-o", out)
    assert rc == 1 and open(out).read() == "keep me" and "exists" in err, err
    assert run("encode", "-f", RGB, "-o", out)[0] == 0 and open(out, "rb").read(4) == b"WLOC"


def expect_failure(label, args, stdin=None, name=None, out=None, contains=None):
    o = out or T("bad-output" + (".png" if args[0] == "decode" else ".wlc"))
    test("bad input: " + label)(lambda: fails_cleanly(args, o, stdin, (name, contains)))


def write(name, data):
    open(T(name), "wb").write(data)
    return T(name)


good = T("good.wlc")
run("encode", "-f", RGB, "-o", good)
wlc = open(good, "rb").read()
png = open(RGB, "rb").read()



def big_png(w, h):
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


flipped = bytearray(wlc)
flipped[len(wlc) // 2] ^= 0x10
expect_failure("not a PNG", ["encode", write("text.png", b"hello, this is text\n" * 10)], name="text.png")
expect_failure("truncated PNG", ["encode", write("cut.png", png[: len(png) // 2])], name="cut.png")
expect_failure("empty input", ["encode", write("empty.png", b"")], name="empty.png")
expect_failure("empty stdin", ["encode", "-"], stdin=b"", name="stdin")
expect_failure("PNG over the size limit", ["encode", write("huge.png", big_png(70000, 16))], name="huge.png")
expect_failure("PNG over the pixel limit", ["encode", write("huge2.png", big_png(60000, 60000))], name="huge2.png")
expect_failure("truncated .wlc", ["decode", write("cut.wlc", wlc[:-10])], name="cut.wlc")
expect_failure("header-only .wlc", ["decode", write("hdr.wlc", wlc[:20])], name="hdr.wlc")
expect_failure("bit-flipped .wlc", ["decode", write("flip.wlc", bytes(flipped))], name="flip.wlc")
expect_failure("wrong magic", ["decode", write("magic.wlc", b"XLOC" + wlc[4:])], name="magic.wlc")
expect_failure("wrong version", ["decode", write("ver.wlc", with_crc(wlc[:4] + b"\x09" + wlc[5:]))], name="ver.wlc")
expect_failure("model id not built in", ["decode", write("id.wlc", patched(wlc, 8, "<Q", 0x1234))], name="id.wlc")
expect_failure("model that does not match (-m gray)", ["decode", "-m", "gray", good], name="good.wlc")
expect_failure(".wlc dimensions over the limit", ["decode", write("dim.wlc", patched(wlc, 16, "<I", 1 << 20))],
               name="dim.wlc")
expect_failure("corrupt stream length", ["decode", write("len.wlc", patched(wlc, 37, "<I", 1 << 30))], name="len.wlc")
expect_failure("output directory does not exist", ["encode", RGB], out=T("no/such/dir/x.wlc"), name="no/such/dir")
@test("decode with the wrong -m names both models; -c with several inputs is a usage error; info reads a model")
def _():
    wlc, _ = roundtrip(RGB)
    rc, _, err = run("decode", "-f", "-m", "gray", wlc, "-o", T("wrong.png"))
    ids = json.loads(run("info", "--json", wlc)[1])["model_id"], json.loads(run("info", "--json", os.path.join(
        TOP, "codec", "models", "gray.wlm"))[1])["id"]
    assert rc == 1 and ids[0] in err and "rgb" in err and ids[1] in err and "-m gray" in err, err
    rc, out, err = run("encode", "-c", RGB, os.path.join(IMAGES, "garden-rgba8.png"))
    assert rc == 2 and not out and "-c takes one input" in err, (rc, err)
    rc, out, err = run("info", "--json", os.path.join(TOP, "codec", "models", "rgb.wlm"))
    info = json.loads(out)
    assert rc == 0 and info["model"] == "rgb" and info["K"] == 12 and info["channels"] == 3 and info["J"] == 3, out


@test("an option a command does nothing for is a usage error (exit 2, nothing written), and so is -o naming "
      "another format; an option for the other kind of input fails for the file (exit 1); usage errors of eval, "
      "latents and train exit 2")
def _():
    import soundfile as sf
    wlc, _ = roundtrip(RGB)
    wav = T("tone.wav")
    sf.write(wav, (np.sin(np.arange(4096) / 5) * 8000).astype(np.int16), 16000)
    for args in (["info", "-o", T("o1"), wlc], ["decode", "-Q", "50", "-o", T("o2.png"), wlc],
                 ["eval", "--keep", "3", RGB, wlc], ["encode", "--json", RGB, "-o", T("o3.wlc")],
                 ["encode", RGB, "-o", T("o4.wlc"), "-O", T("o5")], ["latents", "--diff", RGB, wlc, "-o", T("o6.npy")],
                 ["eval", RGB], ["latents", wlc], ["train", "--linear", IMAGES], ["encode", RGB, "-o", T("o8.png")],
                 ["latents", wlc, "-o", T("o9.png")], ["show", wlc, "-o", T("oa.npy")], ["train", "-m", "rgb", "-o", T("o7.wlm"),
                                                                            IMAGES],
                 ["eval", "-", "-"], ["encode", "-", "-", "-O", T("oc")], ["decode", wlc, "-o", T("od.jpg")]):
        rc, _, err = run(*args)
        assert rc == 2 and "Try 'walloc --help'" in err, (args, rc, err)
    assert not [f for f in os.listdir(tmp) if f.startswith("o")], os.listdir(tmp)
    for args, says in ((["-Q", "101"], "a whole number from 0 to 100"), (["--bpp", "0"], "a number above 0, at most 256")):
        rc, _, err = run("encode", *args, RGB, "-o", T("ob.wlc"))
        assert rc == 2 and says in err, (args, rc, err)
    for args, why in ((["encode", "--step", "100", "--dead-zone", "0.1", wav, "-o", T("z.wlc")], "images only"),
                      (["encode", "--chunk", "16384", RGB, "-o", T("z.wlc")], "audio only")):
        rc, _, err = run(*args)
        assert rc == 1 and why in err and not os.path.exists(T("z.wlc")), (args, rc, err)


@test("eval refuses an original that is not the file's image: other depth (both named) or alpha on one side only")
def _():
    from PIL import Image
    wlc, _ = roundtrip(RGB)
    Image.open(RGB).convert("RGBA").save(T("rgba.png"))
    np.save(T("deep.npy"), (np.asarray(Image.open(RGB)).transpose(2, 0, 1).astype(np.uint16) * 257))
    for orig, says in ((T("rgba.png"), "holds no alpha channel, and"), (T("deep.npy"), "8-bit; ")):
        rc, out, err = run("eval", orig, wlc)
        assert rc == 1 and says in err and "16-bit" * (orig.endswith(".npy")) in err and not out, (orig, rc, err)


expect_failure("unknown model name (the message lists the built-in ones)", ["encode", "-m", "nosuch", RGB], name="nosuch",
               contains="stereo-20x")
expect_failure("gray image with the rgb model", ["encode", "-m", "rgb", os.path.join(IMAGES, "storm-gray8-odd.png")],
               name="storm-gray8-odd.png")

sys.exit(finish())

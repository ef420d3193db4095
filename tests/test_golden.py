#!/usr/bin/python3
"""Golden hashes: the SHA-256 of the .wlc that each built-in model makes of the testdata
images and of a synthesised clip, and of what it decodes to (.npy for images, WAV for audio),
against testdata/golden.txt. A change that alters encoded bytes or decoded samples fails here
and must say why in its commit; `tests/test_golden.py --write` records new hashes. The .wlc
files in testdata/wlc, one or more of each image format version, are decoded as they are: old
files must keep decoding. Decoded samples are floats until the last rounding: the network's
products give the same bits on every CPU (gemm.c: no OpenBLAS on these paths), but audio's
post-filter and band envelope run FFTW, whose codelets for another CPU may round a value the
other way, so the audio hashes are those of this project's CI machine."""
import hashlib
import os
import sys
import tempfile

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import finish, test, run, IMAGES, TOP  # noqa: E402

GOLDEN = os.path.join(TOP, "testdata", "golden.txt")
TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-golden-")
T = lambda name: os.path.join(TMPDIR.name, name)  # noqa: E731


def clip(path, channels):
    """3 s at 22050 Hz, 16-bit: two decaying tones per channel and integer-LCG noise (no
    library random generator, so the samples never change)."""
    n = 3 * 22050
    t = np.arange(n) / 22050.0
    lcg = (np.arange(n, dtype=np.uint64) * np.uint64(6364136223846793005) + np.uint64(1442695040888963407))
    noise = ((lcg >> np.uint64(40)).astype(np.float64) / 2 ** 24 - 0.5) * 0.05
    x = np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) * np.exp(-t) + 0.1 * np.sin(2 * np.pi * 1500 * t)
                  + noise for c in range(channels)], 1)
    sf.write(path, np.round(x * 32767).astype(np.int16), 22050, subtype="PCM_16")
    return path


def cases():
    """(name, input, model, encode options, decoded suffix)."""
    out = []
    for name in sorted(os.listdir(IMAGES)):
        gray = "gray" in name
        for model in (("gray",) if gray else ("rgb", "rgb-linear")):
            for keep in (None, 3):
                out.append(("%s-%s%s" % (name[:-4], model, "-k%d" % keep if keep else ""),
                            os.path.join(IMAGES, name), model, ["--keep", str(keep)] if keep else [], ".npy"))
        out.append(("%s-fast" % name[:-4], os.path.join(IMAGES, name), "gray" if gray else "rgb", ["--fast-read"], ".npy"))
    for channels, model, args in ((2, "stereo", []), (2, "stereo-20x", []), (1, "mono", []),
                                  (2, "stereo-20x", ["--no-fill"]), (1, "mono", ["--fast-read"])):
        out.append(("clip%d-%s%s" % (channels, model, {"--no-fill": "-nofill", "--fast-read": "-fast"}[args[0]] if args else ""),
                    T("clip%d.wav" % channels), model, args, ".wav"))
    return out


def hashes(name, src, model, args, suffix):
    wlc, dec = T(name + ".wlc"), T(name + suffix)
    rc, _, err = run("encode", "-q", "-f", "-m", model, *args, src, "-o", wlc)
    assert rc == 0, "encode %s: %s" % (name, err)
    rc, _, err = run("decode", "-q", "-f", "-m", model, wlc, "-o", dec)
    assert rc == 0, "decode %s: %s" % (name, err)
    return [hashlib.sha256(open(p, "rb").read()).hexdigest()[:32] for p in (wlc, dec)]


FILES = os.path.join(TOP, "testdata", "wlc")


def file_hashes(name):
    """A committed .wlc of an earlier version: its bytes and what it decodes to."""
    wlc, dec = os.path.join(FILES, name), T(name + (".wav" if name.startswith("clip") else ".npy"))
    rc, _, err = run("decode", "-q", "-f", wlc, "-o", dec)
    assert rc == 0, "decode %s: %s" % (name, err)
    return [hashlib.sha256(open(p, "rb").read()).hexdigest()[:32] for p in (wlc, dec)]


def main():
    clip(T("clip2.wav"), 2)
    clip(T("clip1.wav"), 1)
    got = {c[0]: hashes(*c) for c in cases()}
    files = {"file:" + n: file_hashes(n) for n in sorted(os.listdir(FILES))}
    if sys.argv[1:] == ["--write"]:
        with open(GOLDEN, "w") as f:
            f.write("# name, SHA-256 (first 32 hex digits) of the .wlc and of the decoded output: "
                    "tests/test_golden.py --write\n")
            for name, (a, b) in {**got, **files}.items():
                f.write("%s %s %s\n" % (name, a, b))
        return 0
    want = {l.split()[0]: l.split()[1:] for l in open(GOLDEN) if l.strip() and not l.startswith("#")}
    kept = {n: want.pop(n) for n in list(want) if n.startswith("file:")}

    @test("golden: the committed .wlc files of each version (images 1: latents, 3 and 5: a detail layer; audio 2, "
          "4: a band envelope; -fast: latents in entropy mode buckets) decode to the recorded samples")
    def _():
        bad = [n for n in files if kept.get(n) != files[n]]
        assert set(kept) == set(files) and not bad, "differ: %s" % (bad or set(kept) ^ set(files))

    @test("golden: every built-in model codes the testdata images and two clips to the recorded bytes")
    def _():
        bad = [n for n in got if want.get(n, [None])[0] != got[n][0]]
        assert set(want) == set(got) and not bad, "encoded bytes differ: %s" % (bad or set(want) ^ set(got))

    @test("golden: and decodes them to the recorded samples")
    def _():
        bad = [n for n in got if want.get(n, [None, None])[1] != got[n][1]]
        assert not bad, "decoded samples differ: %s" % bad

    return finish()


if __name__ == "__main__":
    sys.exit(main())

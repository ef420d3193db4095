#!/usr/bin/python3
"""Audio rate control through the CLI: --kbps X and --size N write the most channels whose file
fits (one more channel would not), byte for byte the --keep encode of that many; a target below
one channel fails in one line with no output; -Q is monotone in size; --bpp and --psnr are
refused for audio and --kbps for images."""
import json
import os
import sys
import tempfile

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import IMAGES, fails_cleanly, finish, test, run  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-audio-rate-")  # removed at exit
T = lambda *name: os.path.join(TMPDIR.name, *name)  # noqa: E731
RATE = 22050


def clip():
    """4 s of stereo int16: chords of decaying notes over quiet noise."""
    r = np.random.default_rng(5)
    t = np.arange(4 * RATE) / RATE
    x = sum(np.sin(2 * np.pi * f * t)[:, None] * r.uniform(0.2, 1, 2) * np.exp(-(t % 0.5) * 4)[:, None]
            for f in (196, 247, 294, 587, 1175))
    x = x / np.abs(x).max() * 0.7 + 0.01 * r.standard_normal(x.shape)
    return np.round(x * 32767).astype(np.int16)


SRC = T("clip.wav")
sf.write(SRC, clip(), RATE, subtype="PCM_16")
SECONDS = 4.0


def encode(name, *args):
    """(bytes, channels sent) of an encode with args."""
    out = T(name + ".wlc")
    rc, _, err = run("encode", "-q", "-f", "-m", "stereo", *args, SRC, "-o", out)
    assert rc == 0, err
    rc, js, err = run("info", "--json", out)
    return open(out, "rb").read(), json.loads(js)["keep"]


@test("audio rate: --kbps and --size send the most channels that fit, byte for byte the --keep encode")
def _():
    for args, most in ((["--kbps", "6"], 6 * 1000 / 8 * SECONDS), (["--kbps", "9.5"], 9.5 * 1000 / 8 * SECONDS),
                       (["--size", "3500"], 3500)):
        data, keep = encode("t", *args)
        same, _ = encode("k%d" % keep, "--keep", str(keep))
        more, _ = encode("k%d" % (keep + 1), "--keep", str(keep + 1))
        assert data == same, "%s: not the --keep %d bytes" % (args, keep)
        assert len(data) <= most < len(more), "%s: %d bytes at %d channels, %d at %d" % (args, len(data), keep, len(more),
                                                                                       keep + 1)


@test("audio rate: a target below one channel is one line, exit 1, no output")
def _():
    fails_cleanly(["encode", "-m", "stereo", "--kbps", "0.05", SRC], T("low.wlc"), has=("below the one-channel",))
    fails_cleanly(["encode", "-m", "stereo", "--size", "100", SRC], T("low2.wlc"), has=("below the one-channel",))


@test("audio rate: -Q 0..100 is monotone in size and reaches every channel at 100")
def _():
    sizes = [len(encode("q%d" % q, "-Q", str(q))[0]) for q in (0, 25, 50, 75, 100)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 5, sizes
    assert encode("q100", "-Q", "100")[1] == 108


@test("audio rate: --bpp/--psnr refused for audio, --kbps for images")
def _():
    fails_cleanly(["encode", "-m", "stereo", "--psnr", "30", SRC], T("p.wlc"), has=("apply to images only",))
    fails_cleanly(["encode", "--kbps", "8", os.path.join(IMAGES, "garden-rgb8.png")], T("i.wlc"),
                  has=("--kbps applies to audio only",))


sys.exit(finish())

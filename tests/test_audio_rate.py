#!/usr/bin/python3
"""Audio rate control through the CLI: --kbps X and --size N write the most channels whose file
fits (one more channel would not), byte for byte the --keep encode of that many, and past every
channel the largest detail step that fits; --snr D the smallest rung whose SNR (numpy) reaches D;
the detail layer raises SNR with the step; a target below one channel fails in one line with no
output; -Q is monotone in size; --bpp and --psnr are refused for audio, --kbps and --snr for
images."""
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


def decoded_snr(wlc):
    """SNR in dB of wlc decoded, against the clip (numpy)."""
    out = wlc + ".wav"
    rc, _, err = run("decode", "-q", "-f", wlc, "-o", out)
    assert rc == 0, err
    x, y = sf.read(SRC, dtype="int16")[0].astype(float), sf.read(out, dtype="int16")[0].astype(float)
    return 10 * np.log10((x * x).sum() / ((x - y) ** 2).sum())


@test("audio rate: the detail layer raises SNR with the step; past every channel --kbps picks the largest step that fits")
def _():
    _, K = encode("all", "--keep", "108")
    snrs = [decoded_snr(T("s%d.wlc" % st)) for st in (0, 520, 620)
            if encode("s%d" % st, "--step", str(st)) or True]
    assert snrs[0] + 3 < snrs[1] < snrs[2] - 3, "SNR at steps 0, 520, 620: %s" % snrs
    big = len(open(T("s620.wlc"), "rb").read())
    kbps = big * 8 / SECONDS / 1000 * 0.8  # between the step-0 file and the step-620 one
    data, keep = encode("t", "--kbps", "%.3f" % kbps)
    rc, js, _ = run("info", "--json", T("t.wlc"))
    step = json.loads(js)["detail_step"]
    assert keep == 108 and 0 < step < 620 and len(data) <= kbps * 1000 / 8 * SECONDS, (keep, step, len(data))
    same, _ = encode("direct", "--step", str(step))
    more, _ = encode("more", "--step", str(step + 1))
    assert data == same and len(more) > kbps * 1000 / 8 * SECONDS, "step %d: not the largest that fits" % step


@test("audio rate: --snr D writes a rung whose decoded SNR reaches D, the rung below it does not")
def _():
    for want in (8.0, 24.0):
        _, keep = encode("snr", "--snr", str(want))
        step = json.loads(run("info", "--json", T("snr.wlc"))[1])["detail_step"]
        got = decoded_snr(T("snr.wlc"))
        below = ["--keep", str(keep - 1)] if not step else ["--step", str(step - 1)] if step > 1 else ["--keep", "108"]
        encode("below", *below)
        assert got >= want > decoded_snr(T("below.wlc")), "--snr %g: %.2f dB at keep %d step %d; below: %.2f" % (
            want, got, keep, step, decoded_snr(T("below.wlc")))


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
                  has=("--kbps and --snr apply to audio only",))


sys.exit(finish())

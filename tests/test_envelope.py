#!/usr/bin/python3
"""The band envelope of audio (codec/envelope.c) through the CLI, measured with numpy's FFT:
band-limited noise that the 20x stereo code loses comes back at its energy (and does not without
the envelope); a band the decoder makes too loud is brought down; silence costs under 1 kbps
and decodes to silence; the fill is the same on 1 and 2 threads and in any chunking away from
the chunks' ends; info reports the envelope's bytes."""
import json
import os
import sys
import tempfile

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import finish, test, run  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-envelope-")  # removed at exit
T = lambda *name: os.path.join(TMPDIR.name, *name)  # noqa: E731
RATE = 44100


def band(x, lo, hi):
    """Energy of x (frames, channels) between lo and hi Hz (numpy FFT over the whole clip)."""
    f = np.fft.rfftfreq(x.shape[0], 1 / RATE)
    s = np.abs(np.fft.rfft(np.asarray(x, float), axis=0)) ** 2
    return s[(f >= lo) & (f < hi)].sum()


def noise_clip(seconds, seed):
    """Stereo int16: a low tone the latents keep, and white noise band-limited to 6-10 kHz (by
    zeroing FFT bins), which stereo-20x's 27 channels lose."""
    r = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    spec = np.fft.rfft(r.standard_normal((n, 2)), axis=0)
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec[(f < 6000) | (f >= 10000)] = 0
    hi = np.fft.irfft(spec, n, axis=0)
    x = 0.3 * np.sin(2 * np.pi * 220 * t)[:, None] + 0.05 * hi / hi.std()
    return np.round(x * 32767).astype(np.int16)


def code(name, x, *args, threads="2"):
    """(.wlc path, decoded int16 samples) of x through stereo-20x with args."""
    src, wlc, out = T(name + ".wav"), T(name + ".wlc"), T(name + ".out.wav")
    sf.write(src, x, RATE, subtype="PCM_16")
    rc, _, err = run("encode", "-q", "-f", "-T", threads, "-m", "stereo-20x", *args, src, "-o", wlc)
    assert rc == 0, err
    rc, _, err = run("decode", "-q", "-f", "-T", threads, wlc, "-o", out)
    assert rc == 0, err
    return wlc, sf.read(out, dtype="int16")[0]


NOISE = noise_clip(6, 1)


@test("envelope: band-limited noise (6-10 kHz) that the latents lose comes back at its energy; not without it")
def _():
    _, y = code("noise", NOISE)
    _, plain = code("plain", NOISE, "--no-fill")
    want = band(NOISE, 6000, 10000)
    kept, lost = band(y, 6000, 10000) / want, band(plain, 6000, 10000) / want
    assert 0.75 < kept < 1.35 and lost < 0.2, "6-10 kHz energy kept: %.3f with the envelope, %.3f without" % (kept, lost)
    # the tone is the latents' job: the envelope leaves it alone (within a few percent)
    tone = band(y, 200, 240) / band(NOISE, 200, 240)
    assert 0.9 < tone < 1.1, "220 Hz tone energy: %.3f" % tone
    # noise where nothing was: 1-5 kHz stays near empty
    assert band(y, 1000, 5000) < 0.02 * want, "1-5 kHz: %.4f of the noise band" % (band(y, 1000, 5000) / want)


@test("envelope: a band that the decoder makes too loud is brought down to the original's level")
def _():
    # a tone alone: whatever the code puts above 12 kHz is artefact; the original has none there
    t = np.arange(4 * RATE) / RATE
    x = np.round(0.4 * 32767 * np.stack([np.sin(2 * np.pi * 330 * t), np.sin(2 * np.pi * 440 * t)], 1)).astype(np.int16)
    _, y = code("tone", x)
    _, plain = code("tone-plain", x, "--no-fill")
    over, over_plain = band(y - x, 12000, 20000), band(plain - x, 12000, 20000)
    assert over <= 0.5 * over_plain + 1e3, "12-20 kHz error energy %.4g with the envelope, %.4g without" % (over, over_plain)


@test("envelope: 10 s of silence cost under 1 kbps and decode to silence")
def _():
    wlc, y = code("silence", np.zeros((10 * RATE, 2), np.int16))
    kbps = os.path.getsize(wlc) * 8 / 10 / 1000
    assert kbps < 1 and not np.abs(y).max(), "%.3f kbps, peak %d" % (kbps, np.abs(y).max())


@test("envelope: the same bytes and samples on 1 and 2 threads")
def _():
    a, ya = code("t1", NOISE, threads="1")
    b, yb = code("t2", NOISE, threads="2")
    assert open(a, "rb").read() == open(b, "rb").read(), "encoded bytes differ"
    assert np.array_equal(ya, yb), "decoded samples differ"


@test("envelope: chunks of 65536 frames decode like one chunk away from the chunks' ends")
def _():
    _, one = code("one", NOISE)
    _, many = code("many", NOISE, "--chunk", "65536")
    err = (one.astype(float) - many) ** 2
    assert err.mean() < 1e-4 * (one.astype(float) ** 2).mean(), "error %.4g of the power" % (
        err.mean() / (one.astype(float) ** 2).mean())


@test("envelope: info gives its bytes (format 4); --no-fill writes format 2 without one")
def _():
    for name, args, version in (("info", [], 4), ("info-plain", ["--no-fill"], 2)):
        wlc, _ = code(name, NOISE[:RATE], *args)
        rc, js, err = run("info", "--json", wlc)
        h = json.loads(js)
        assert rc == 0 and h["version"] == version and (h["envelope_bytes"] > 0) == (version == 4), h
    rc, _, err = run("encode", "-f", "--no-fill", os.path.join(os.path.dirname(__file__), "..", "testdata", "images",
                                                                "garden-rgb8.png"), "-o", T("img.wlc"))
    assert rc == 1 and "--no-fill applies to audio only" in err and not os.path.exists(T("img.wlc")), err


sys.exit(finish())

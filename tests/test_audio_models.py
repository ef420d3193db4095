#!/usr/bin/python3
"""The built-in audio models and multichannel sensors through the CLI: `stereo` and `mono` (all
their channels, 4.74x) and their 20x operating points `stereo-20x` / `mono-20x` (the same model
bytes sending fewer channels) code synthesised music and speech-like clips with the exact shape
back and the fidelity ordered by the channels sent; audio without -m takes the built-in model
of its channel count; a model of another channel count, or a count with no built-in model, fails
with one line that says so and leaves no output; an 8-channel sensor recording trains a neural
model with walloc train --channels 8 and round-trips with it."""
import json
import os
import sys
import tempfile

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import fails_cleanly, finish, test, run  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-audio-models-")  # removed at exit
T = lambda *name: os.path.join(TMPDIR.name, *name)  # noqa: E731


def music(frames, rate, channels, seed):
    """int16 (frames, channels): notes of a few harmonics with decaying envelopes, panned per
    channel, over quiet lowpassed noise."""
    r = np.random.default_rng(seed)
    t = np.arange(frames) / rate
    x = np.zeros((frames, channels))
    for start in np.arange(0, frames / rate, 0.25):
        f0, env = r.uniform(110, 880), np.exp(-np.clip(t - start, 0, None) * 6) * (t >= start)
        note = sum(np.sin(2 * np.pi * f0 * h * t + r.uniform(0, 6.3)) / h for h in range(1, 5)) * env
        x += np.outer(note, r.uniform(0.3, 1.0, channels))
    noise = np.cumsum(r.standard_normal((frames, channels)), axis=0)
    noise -= np.convolve(noise[:, 0], np.ones(64) / 64, "same")[:, None]
    x = x / np.abs(x).max() * 0.6 + 0.01 * noise / (np.abs(noise).max() + 1e-9)
    return np.round(x * 32767 * 0.9).astype(np.int16)


def save(name, x, rate):
    sf.write(T(name), x, rate, subtype="PCM_16")
    return T(name)


def snr(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return 10 * np.log10((a * a).sum() / ((a - b) ** 2).sum())


def code(src, model=None, extra=()):
    """(.wlc path, decoded int16 samples, info JSON) of src through `model` (None: no -m)."""
    wlc, out = src + ".wlc", src + ".out.wav"
    rc, _, err = run("encode", "-f", *(["-m", model] if model else []), *extra, src, "-o", wlc)
    assert rc == 0, "encode %s: %s" % (model, err)
    by_id = model is None or not model.endswith(".wlm")  # a built-in model is found by the file's id
    rc, _, err = run("decode", "-f", *([] if by_id else ["-m", model]), wlc, "-o", out)
    assert rc == 0, "decode %s: %s" % (model, err)
    rc, js, err = run("info", "--json", wlc)
    assert rc == 0, "info: " + err
    y, _ = sf.read(out, dtype="int16", always_2d=True)
    return wlc, y, json.loads(js)


STEREO = music(3 * 44100 + 77, 44100, 2, 1)
MONO = music(2 * 16000 + 5, 16000, 1, 2)[:, :1]


def operating_points(base, x, rate, K, keep20):
    """`base` and `base-20x` on clip x: its shape back, K channels of which K or keep20 sent,
    info's reduction counting the channels sent (J 8: 256 bands a channel), and the fidelity
    and size falling from K channels to keep20 (the latents alone: --no-fill, as the band
    envelope's noise trades SNR for spectrum)."""
    src = save(base + ".wav", x, rate)
    got = {}
    for name, keep in ((base, K), (base + "-20x", keep20)):
        wlc, y, info = code(src, name, ("--no-fill",))
        assert y.shape == x.shape, "%s: shape %s" % (name, y.shape)
        assert info["keep"] == keep and info["K"] == K, "%s: keep %s of %s" % (name, info["keep"], info["K"])
        rc, text, _ = run("info", wlc)
        want = "%.2fx" % (x.shape[1] * 256 / keep * x.shape[0] / (info["latent_shape"][2] * 256))
        assert rc == 0 and ("reduction:     " + want) in text.decode(), "%s: want %s in\n%s" % (name, want, text.decode())
        got[name] = (snr(x, y), os.path.getsize(wlc))
    full, low = got[base], got[base + "-20x"]
    assert full[0] > low[0] + 3 and low[0] > 0.5 and full[1] > 1.5 * low[1], got


test("audio models: stereo and stereo-20x code music with its shape back, 108 and 27 channels")(
    lambda: operating_points("stereo", STEREO, 44100, 108, 27))
test("audio models: mono and mono-20x code a mono clip (54 and 13 channels)")(
    lambda: operating_points("mono", MONO, 16000, 54, 13))


@test("audio models: without -m, stereo takes `stereo` and mono takes `mono`")
def _():
    for name, x, rate in (("st.wav", STEREO, 44100), ("mono.wav", MONO, 16000)):
        _, y, info = code(save("d" + name, x, rate))
        assert y.shape == x.shape, "%s: shape %s" % (name, y.shape)
        want = "stereo" if x.shape[1] == 2 else "mono"
        assert info.get("model") == want, "%s: model %s" % (name, info.get("model"))


@test("audio models: a model of another channel count, or no built-in model, is one clear line")
def _():
    cases = (("mono", STEREO, "2 channel(s) but model 'mono' takes 1"),
             ("stereo", MONO, "1 channel(s) but model 'stereo' takes 2"),
             (None, np.tile(STEREO[:4000], 4), "8 channels"))
    for i, (model, x, want) in enumerate(cases):
        src = save("bad%d.wav" % i, x, 44100)
        fails_cleanly(["encode", *(["-m", model] if model else []), src], T("bad%d.wlc" % i), has=(want, src))


@test("audio models: an 8-channel recording trains a neural model (--channels 8) and round-trips")
def _():
    d = T("eight")
    os.mkdir(d)
    for i in range(3):
        save(os.path.join("eight", "c%d.wav" % i), music(20000, 8000, 8, 10 + i), 8000)
    model = T("eight.wlm")
    rc, _, err = run("train", "--channels", "8", "-J", "4", "-K", "32", "-N", "8", "-R", "1", "--crop", "256",
                     "--steps", "40", "--taps", "9", "-o", model, d)
    assert rc == 0, "train: " + err
    x = music(12345, 8000, 8, 99)
    src = save("eight.wav", x, 8000)
    _, y, info = code(src, model)
    assert y.shape == x.shape and info["channels"] == 8, "shape %s" % (y.shape,)
    assert snr(x, y) > 10, "SNR %.2f dB" % snr(x, y)


sys.exit(finish())

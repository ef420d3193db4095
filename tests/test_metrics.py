#!/usr/bin/python3
"""The audio measures of walloc eval (SNR, WaLLoC PSNR, SI-SDR, log-spectral distance; see
cli/metrics.c) against the independent numpy implementation of tests/py/audioref.py: first the
numpy side on cases with a known answer, then walloc eval --json and its text line on clips coded
by linear models (stereo 16-bit with DC offsets, mono 24-bit FLAC, a clip shorter than one LSD
frame, a silent channel), each compared with numpy on the decoded file within TOL dB."""
import json
import os
import re
import sys
import tempfile

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import audioref  # noqa: E402
from harness import finish, test, run  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-metrics-")  # removed at exit
T = lambda *name: os.path.join(TMPDIR.name, *name)  # noqa: E731
TOL = 1e-3  # dB; the C sums in double (SNR, PSNR, SI-SDR agree to ~1e-9), its FFT is single precision


def synth(frames, rate, channels, seed, depth=16, dc=(0,)):
    """(frames, channels) ints of `depth` bits: per channel a gliding tone with 3 harmonics, a
    tremolo and white noise 40 dB down, plus dc[c] (a fraction of full scale); about -10 dBFS."""
    r = np.random.default_rng(seed)
    t = np.arange(frames) / rate
    cols = []
    for c in range(channels):
        f = r.uniform(80, rate / 16) * (1 + 0.3 * t / max(t[-1], 1e-9))
        phase = 2 * np.pi * np.cumsum(f) / rate
        x = sum(0.12 / h * np.sin(h * phase + r.uniform(0, 6.3)) for h in (1, 2, 3))
        x = x * (0.8 + 0.2 * np.sin(2 * np.pi * r.uniform(1, 4) * t)) + 0.003 * r.standard_normal(frames)
        cols.append(x + dc[c % len(dc)])
    full = 2 ** (depth - 1)
    return np.clip(np.round(np.stack(cols, 1) * full), -full, full - 1).astype(np.int64)


def write(name, x, rate, depth):
    sf.write(T(name), (x << (32 - depth)).astype(np.int32), rate, subtype="PCM_%d" % depth)
    return T(name)


def read(path, depth):
    return sf.read(path, dtype="int32", always_2d=True)[0].astype(np.int64) >> (32 - depth)


def train(name, channels, rate, J, K):
    d = T(name)
    os.mkdir(d)
    for i in range(3):
        write(os.path.join(name, "t%d.wav" % i), synth(40000, rate, channels, 50 + i), rate, 16)
    rc, _, err = run("train", "--linear", "--channels", str(channels), "-J", str(J), "-K", str(K), "-o",
                     T(name + ".wlm"), d)
    assert rc == 0, err
    return T(name + ".wlm")


@test("metrics: numpy reference on known answers (gain, offset, orthogonal noise, scaled spectra)")
def _():
    r = np.random.default_rng(1)
    x = r.standard_normal((20000, 2)) * 3000
    ok = lambda a, b: abs(a - b) < 1e-9  # noqa: E731
    assert ok(audioref.snr(x, 0.5 * x), 20 * np.log10(2)), audioref.snr(x, 0.5 * x)
    assert audioref.si_sdr(x, 0.5 * x) > 250 and audioref.si_sdr(x + 7, 2 * x - 3) > 250, "SI-SDR not scale-invariant"
    e = r.standard_normal(x.shape)
    e -= e.mean(0)
    xc = x - x.mean(0)
    e -= (e * xc).sum(0) / (xc * xc).sum(0) * xc  # orthogonal to x, per channel
    want = np.mean(10 * np.log10((xc * xc).sum(0) / (e * e).sum(0)))
    assert ok(audioref.si_sdr(x, x + e), want), (audioref.si_sdr(x, x + e), want)
    y = x + r.standard_normal(x.shape) * 30
    assert ok(audioref.psnr(x + 1000, y + 1000), audioref.psnr(x, y)), "PSNR depends on the offset"
    peak = np.abs(x - x.mean(0)).max()
    assert ok(audioref.psnr(x, y), 10 * np.log10(4 * peak ** 2 / ((x - y) ** 2).mean())), "PSNR"
    assert audioref.lsd(x, x, 16) == 0 and abs(audioref.lsd(x, 2 * x, 16) - 20 * np.log10(2)) < 1e-6, \
        audioref.lsd(x, 2 * x, 16)
    assert np.isnan(audioref.si_sdr(np.ones((100, 1)), x[:100, :1])), "silent channel not left out"
    # mel distance: 0 for a perfect copy, 20 log10(2) for twice the amplitude (every band scales alike)
    assert audioref.mel_distance(x, x, 16, 44100) == 0, "mel distance of a copy"
    assert abs(audioref.mel_distance(x, 2 * x, 16, 44100) - 20 * np.log10(2)) < 1e-6, "mel distance, gain 2"
    # each triangle peaks at 1 on its centre's bin neighbourhood and the interior weights sum to about 1
    W = audioref.mel_weights(44100)
    assert W.shape == (40, 1025) and W.max() <= 1 and abs(W[:, 100:900].sum(0) - 1).max() < 1e-9, "mel weights"
    # energy kept: a tone at 6 kHz, halved in amplitude, keeps 1/4 in 4-8 kHz; 8-16 kHz of 16 kHz audio is NaN
    t = np.arange(44100)[:, None] / 44100.0
    tone = np.round(8000 * np.sin(2 * np.pi * 6000 * t))
    kept = audioref.energy_kept(tone, tone / 2, 16, 44100)
    assert abs(kept[1] - 0.25) < 1e-9, kept
    assert np.isnan(audioref.energy_kept(x[:16000], x[:16000], 16, 16000)[2]), "8-16 kHz at 16 kHz"


STEREO = train("st", 2, 44100, 6, 96)
MONO = train("mono", 1, 22050, 5, 8)


def check(name, x, rate, depth, model, keep=None):
    """Codes x with `model`, decodes it, and compares walloc eval --json and the text line with
    audioref on the decoded samples; returns the measures."""
    ext = ".flac" if depth == 24 else ".wav"
    src = write(name + ext, x, rate, depth)
    wlc, out = T(name + ".wlc"), T(name + ".out" + ext)
    rc, _, err = run("encode", "-f", "-m", model, *(["--keep", str(keep)] if keep else []), src, "-o", wlc)
    assert rc == 0, err
    rc, _, err = run("decode", "-f", "-m", model, wlc, "-o", out)
    assert rc == 0, err
    y = read(out, depth)
    want = audioref.all_metrics(x, y, depth, rate)
    rc, o, err = run("eval", "--json", "-m", model, src, wlc)
    assert rc == 0, err
    assert all(run("eval", "--json", "-T", t, "-m", model, src, wlc)[1] == o for t in ("1", "3")), \
        "eval --json differs between thread counts"
    got = json.loads(o)
    assert (got["channels"], got["frames"], got["rate"], got["depth"]) == (x.shape[1], x.shape[0], rate, depth), got
    bad = {k: (got[k], v) for k, v in want.items() if not (abs(got[k] - v) < TOL or (got[k] is None and np.isnan(v)))}
    assert not bad, "%s: walloc vs numpy: %s" % (name, bad)
    rc, o, err = run("eval", "-m", model, src, wlc)
    text = "SNR %.2f dB, PSNR %.2f dB, SI-SDR %.2f dB, LSD %.3f dB, mel %.3f dB, energy kept %.3f %.3f %.3f (0-4, 4-8, " \
        "8-16 kHz)" % tuple(float("nan") if got[k] is None else got[k] for k in (
            "snr", "psnr", "si_sdr", "lsd", "mel", "keep_0_4k", "keep_4_8k", "keep_8_16k"))
    assert rc == 0 and o.decode().rstrip().endswith(text) and re.search(r"%.2f kbps" % got["kbps"], o.decode()), \
        o.decode() + err
    return got


@test("metrics: stereo 16-bit 44.1 kHz with DC offsets, --keep 6 and all 96: walloc eval = numpy")
def _():
    x = synth(30001, 44100, 2, 7, dc=(0.05, -0.02))
    coarse, fine = check("dc6", x, 44100, 16, STEREO, keep=6), check("dc96", x, 44100, 16, STEREO)
    assert fine["snr"] > coarse["snr"] and fine["lsd"] < coarse["lsd"], (coarse, fine)
    assert coarse["psnr"] > coarse["snr"], "the PSNR's peak of 0.5 is above this clip's RMS"


@test("metrics: mono 24-bit FLAC 22.05 kHz, 12345 frames: walloc eval = numpy")
def _():
    check("m24", synth(12345, 22050, 1, 8, depth=24, dc=(0.01,)), 22050, 24, MONO)


@test("metrics: clips shorter than one LSD frame (1500, 2048 frames) and one frame past it (2049)")
def _():
    for n in (1500, 2048, 2049):
        check("short%d" % n, synth(n, 44100, 2, n), 44100, 16, STEREO, keep=12)


@test("metrics: a silent channel is left out of the SI-SDR mean, counted in the others")
def _():
    x = synth(20000, 44100, 2, 9)
    x[:, 1] = 0
    got = check("silent", x, 44100, 16, STEREO, keep=12)
    assert abs(got["si_sdr"] - audioref.si_sdr(x[:, :1], read(T("silent.out.wav"), 16)[:, :1])) < TOL, got


sys.exit(finish())

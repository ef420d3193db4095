#!/usr/bin/python3
"""Audio through the CLI with linear (PCA) 1-D models: synthesised clips (sines with an envelope
plus lowpassed noise) train mono, stereo and 6-channel models with walloc train --linear; WAV
8/16/32-bit, FLAC 24-bit and OGG/Vorbis round trips keep rate, channels, length (to the sample)
and bit depth; odd lengths, stdin/stdout, info/eval/latents; every bad input (channel count,
truncated or garbage audio, float samples, corrupt .wlc header fields) fails with one line
naming the file and leaves no output. A short neural (1-D) training on synthesised stereo notes
raises the held-out PSNR, and its model codes a clip of another length exactly."""
import io
import re
import json
import os
import struct
import sys
import tempfile
import zlib

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import fails_cleanly, finish, test, run, wlm_header, TOP  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-audio-")  # removed at exit
TMP = TMPDIR.name
T = lambda *name: os.path.join(TMP, *name)  # noqa: E731
SNR_FLOOR = 14.0  # dB; K = half the bands, default gain 32: these clips measure 16.5 to 21.8 dB



def clip(frames, rate, channels, seed, depth=16):
    """(frames, channels) int32 samples of `depth` bits: a chord of 4 sines (detuned per channel)
    under a slow envelope, plus exponentially lowpassed noise; about -12 dBFS."""
    r = np.random.default_rng(seed)
    t = np.arange(frames) / rate
    f, a = r.uniform(rate / 400, rate / 10, 4), r.uniform(0.05, 0.2, 4)
    out = []
    for ch in range(channels):
        x = sum(a[i] * np.sin(2 * np.pi * f[i] * (1 + 0.01 * ch) * t + r.uniform(0, 6.3)) for i in range(4))
        x = x * (0.7 + 0.3 * np.sin(2 * np.pi * r.uniform(0.5, 3) * t))
        k = np.exp(-np.arange(64) / r.uniform(2, 8))
        x = x + 0.05 * np.convolve(r.standard_normal(frames), k / np.sqrt((k * k).sum()))[:frames]
        out.append(x)
    peak = 2 ** (depth - 1)
    return np.clip(np.round(np.stack(out, 1) * peak), -peak, peak - 1).astype(np.int32)


def save(path, x, rate, depth, subtype=None):
    """Writes int samples of `depth` bits with soundfile (which takes int32 as full scale)."""
    sf.write(path, (x.astype(np.int64) << (32 - depth)).astype(np.int32), rate,
             subtype=subtype or {8: "PCM_U8", 16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}[depth])
    return path


def load(path, depth):
    """Samples of a file as ints of `depth` bits, (frames, channels)."""
    y, _ = sf.read(path, dtype="int32", always_2d=True)
    return y.astype(np.int64) >> (32 - depth)


def snr(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    db = 10 * np.log10((a * a).sum() / ((a - b) ** 2).sum())
    if os.environ.get("SHOW_SNR"):  # SHOW_SNR=1: print every measurement (to re-measure the floor)
        print("  SNR %.2f dB" % db)
    return db


def trainset(name, channels, rate, n=4, frames=57330):
    d = T(name)
    os.mkdir(d)
    for i in range(n):
        save(os.path.join(d, "c%d.wav" % i), clip(frames, rate, channels, 100 * channels + i), rate, 16)
    return d


# Models: J levels, K = half the C * 2^J bands.
SETS = {1: (22050, 6), 2: (44100, 6), 6: (8000, 4)}
MODEL, TRAIN = {}, {}
for _c, (_rate, _J) in SETS.items():
    MODEL[_c] = T("m%d.wlm" % _c)
    TRAIN[_c] = run("train", "--linear", "--channels", str(_c), "-J", str(_J), "-K", str(_c << (_J - 1)), "-o",
                    MODEL[_c], trainset("set%d" % _c, _c, _rate))


def roundtrip(c, x, rate, depth, src_name, out_name, extra=(), model=None):
    """Encodes x (written as src_name) with the c-channel model (or `model`) and decodes to
    out_name; returns (source path, .wlc path, decoded path)."""
    src = save(T(src_name), x, rate, depth) if x is not None else T(src_name)
    wlc, out, model = T(src_name + ".wlc"), T(out_name), model or MODEL[c]
    rc, _, err = run("encode", "-f", "-m", model, *extra, src, "-o", wlc)
    assert rc == 0, "encode: " + err
    rc, _, err = run("decode", "-f", "-m", model, wlc, "-o", out)
    assert rc == 0, "decode: " + err
    return src, wlc, out


def same_shape(out, frames, rate, channels, subtype):
    i = sf.info(out)
    assert (i.frames, i.samplerate, i.channels, i.subtype) == (frames, rate, channels, subtype), \
        "%s: %d frames %d Hz %d ch %s" % (out, i.frames, i.samplerate, i.channels, i.subtype)


@test("audio: train --linear writes 1-D models (metadata dims 1) for 1, 2 and 6 channels")
def _():
    for c in SETS:
        assert TRAIN[c][0] == 0, TRAIN[c][2]
        meta = wlm_header(MODEL[c])["__metadata__"]
        assert meta["dims"] == "1" and meta["channels"] == str(c) and meta["kind"] == "linear", meta
    img = T("img.wlm")
    rc, _, err = run("train", "--linear", "--channels", "1", "-o", img, os.path.join(TOP, "testdata", "images"))
    assert rc == 0 and "dims" not in wlm_header(img)["__metadata__"], err


@test("audio: WAV 16-bit stereo 44.1 kHz round trip: exact shape, SNR over the floor, eval agrees")
def _():
    x = clip(57330, 44100, 2, 7)
    src, wlc, out = roundtrip(2, x, 44100, 16, "st.wav", "st.out.wav")
    same_shape(out, 57330, 44100, 2, "PCM_16")
    s = snr(x, load(out, 16))
    assert s > SNR_FLOOR, "SNR %.2f dB" % s
    rc, o, err = run("eval", "-m", MODEL[2], src, wlc)
    assert rc == 0 and ("SNR %.2f dB" % s) in o.decode(), o.decode() + err
    assert "kbps" in o.decode()


@test("audio: FLAC 24-bit mono 22.05 kHz round trip to FLAC keeps 24-bit samples")
def _():
    x = clip(28665, 22050, 1, 8, depth=24)
    _, _, out = roundtrip(1, x, 22050, 24, "mono.flac", "mono.out.flac")
    same_shape(out, 28665, 22050, 1, "PCM_24")
    y = load(out, 24)
    assert np.abs(y).max() > 1 << 18, "samples not in the 24-bit range"
    assert snr(x, y) > SNR_FLOOR, "SNR %.2f dB" % snr(x, y)


@test("audio: 6-channel 8 kHz WAV round trip")
def _():
    x = clip(10400, 8000, 6, 9)
    _, _, out = roundtrip(6, x, 8000, 16, "six.wav", "six.out.wav")
    same_shape(out, 10400, 8000, 6, "PCM_16")
    assert snr(x, load(out, 16)) > SNR_FLOOR, "SNR %.2f dB" % snr(x, load(out, 16))


@test("audio: 8-bit (unsigned WAV) and 32-bit WAV keep their depth; 8-bit FLAC too")
def _():
    for depth, name, out, sub in [(8, "u8.wav", "u8.out.wav", "PCM_U8"), (32, "s32.wav", "s32.out.wav", "PCM_32"),
                                  (8, "s8.flac", "s8.out.flac", "PCM_S8")]:
        x = clip(30000, 44100, 2, 10, depth=depth)
        src = save(T(name), x, 44100, depth, sub if name.endswith(".flac") else None)
        _, _, o = roundtrip(2, None, 44100, depth, name, out)
        same_shape(o, 30000, 44100, 2, sub)
        assert snr(load(src, depth), load(o, depth)) > SNR_FLOOR - 3, "%s: SNR %.2f dB" % (name, snr(x, load(o, depth)))


@test("audio: OGG/Vorbis input decodes to 16-bit WAV of the same rate, channels and length")
def _():
    x = clip(44100, 44100, 2, 11)
    src = save(T("v.ogg"), x, 44100, 16, "VORBIS")
    ref = load(src, 16)
    _, _, out = roundtrip(2, None, 44100, 16, "v.ogg", "v.out.wav")
    same_shape(out, ref.shape[0], 44100, 2, "PCM_16")
    assert snr(ref, load(out, 16)) > SNR_FLOOR - 3, "SNR %.2f dB" % snr(ref, load(out, 16))


@test("audio: Sony Wave64 (.w64, which -r takes) encodes like its WAV: the same .wlc")
def _():
    x = clip(20000, 44100, 2, 12)
    sf.write(T("w.w64"), (x.astype(np.int64) << 16).astype(np.int32), 44100, format="W64", subtype="PCM_16")
    save(T("w.wav"), x, 44100, 16)
    for name in ("w.w64", "w.wav"):
        rc, _, err = run("encode", "-q", "-f", T(name), "-o", T(name + ".wlc"))
        assert rc == 0, (name, err)
    assert open(T("w.w64.wlc"), "rb").read() == open(T("w.wav.wlc"), "rb").read()


@test("audio: odd lengths (12345, 1 and 7 frames) come back to the sample")
def _():
    for n in (12345, 1, 7, 64, 65):
        x = clip(n, 44100, 2, n)
        _, _, out = roundtrip(2, x, 44100, 16, "odd%d.wav" % n, "odd%d.out.wav" % n)
        same_shape(out, n, 44100, 2, "PCM_16")
        if n > 1000:
            assert snr(x, load(out, 16)) > SNR_FLOOR, "SNR %.2f dB" % snr(x, load(out, 16))


@test("audio: stdin -> stdout (WAV and FLAC in, WAV out), same bytes as files and at -T1/-T2")
def _():
    x = clip(20000, 44100, 2, 12)
    wav, flac = save(T("pipe.wav"), x, 44100, 16), save(T("pipe.flac"), x, 44100, 16)
    rc, wlc, err = run("encode", "-m", MODEL[2], "-", stdin=open(wav, "rb").read())
    assert rc == 0 and wlc[:4] == b"WLOC", err
    rc, wlc2, err = run("encode", "-m", MODEL[2], "-T1", "-c", flac)
    assert rc == 0 and wlc2 == wlc, "FLAC and WAV of the same samples encode differently " + err
    rc, wlc3, err = run("encode", "-m", MODEL[2], "-T2", "-c", wav)
    assert rc == 0 and wlc3 == wlc, "-T2 differs " + err
    rc, out, err = run("decode", "-m", MODEL[2], "-", stdin=wlc)
    assert rc == 0 and out[:4] == b"RIFF", err
    y, rate = sf.read(io.BytesIO(out), dtype="int16", always_2d=True)
    assert y.shape == (20000, 2) and rate == 44100, "%s %d" % (y.shape, rate)
    assert snr(x, y) > SNR_FLOOR, "SNR %.2f dB" % snr(x, y)


@test("audio: info and info --json describe rate, frames, channels, depth and the latent shape")
def _():
    x = clip(12345, 22050, 1, 13)
    _, wlc, _ = roundtrip(1, x, 22050, 16, "info.wav", "info.out.wav")
    rc, o, err = run("info", "--json", wlc)
    j = json.loads(o)
    assert rc == 0 and j["modality"] == "audio" and (j["rate"], j["frames"], j["channels"], j["depth"]) == \
        (22050, 12345, 1, 16), o
    assert j["latent_shape"] == [32, 1, -(-12345 // 64)] and j["kbps"] > 0, o
    rc, o, err = run("info", wlc)
    assert rc == 0 and "audio" in o.decode() and "22050 Hz" in o.decode() and "12345 frames" in o.decode(), o


@test("audio: latents (k, 1, T/2^J) as .npy; --keep is a prefix")
def _():
    x = clip(20000, 44100, 2, 14)
    src = save(T("lat.wav"), x, 44100, 16)
    for keep, name in ((0, "lat_all"), (9, "lat_9")):
        args = ["--keep", str(keep)] if keep else []
        assert run("encode", "-f", "-m", MODEL[2], *args, src, "-o", T(name + ".wlc"))[0] == 0
        assert run("latents", "-f", "-m", MODEL[2], T(name + ".wlc"), "-o", T(name + ".npy"))[0] == 0
    q, p = np.load(T("lat_all.npy")), np.load(T("lat_9.npy"))
    assert q.shape == (64, 1, -(-20000 // 64)) and np.array_equal(p, q[:9]), "%s %s" % (q.shape, p.shape)
    rc, _, err = run("decode", "-f", "-m", MODEL[2], T("lat_9.wlc"), "-o", T("lat_9.wav"))
    assert rc == 0 and sf.info(T("lat_9.wav")).frames == 20000, err


@test("audio: train --channels 1 downmixes stereo; --channels 6 on stereo clips fails naming a file")
def _():
    rc, _, err = run("train", "--linear", "--channels", "1", "-J", "5", "-K", "16", "-o", T("down.wlm"), T("set2"))
    assert rc == 0, err
    rc, _, err = run("train", "--linear", "--channels", "6", "-o", T("bad6.wlm"), T("set2"))
    assert rc == 1 and "c0.wav" in err and "2 channel" in err and not os.path.exists(T("bad6.wlm")), err
    mixed = T("mixed")
    os.mkdir(mixed)
    os.symlink(os.path.join(T("set2"), "c0.wav"), os.path.join(mixed, "a.wav"))
    os.symlink(os.path.join(TOP, "testdata", "images", sorted(os.listdir(os.path.join(TOP, "testdata", "images")))[0]),
               os.path.join(mixed, "b.png"))
    rc, _, err = run("train", "--linear", "-o", T("mixed.wlm"), mixed)
    assert rc == 1 and "b.png" in err, err
    rc, _, err = run("train", "--crop", "1000", "-o", T("neural.wlm"), T("set2"))  # not a multiple of 2^8
    assert rc == 2 and "crop" in err and not os.path.exists(T("neural.wlm")), err
    rc, _, err = run("train", "--val", os.path.join(TOP, "testdata", "images"), "-o", T("neural.wlm"), T("set2"))
    assert rc == 1 and "is an image" in err and not os.path.exists(T("neural.wlm")), err
    rc, _, err = run("train", "--linear", "-J", "11", "-o", T("j11.wlm"), T("set2"))
    assert rc == 2, err


def notes(frames, rate, seed):
    """(frames, 2) int16: overlapping notes of 0.1 to 0.3 s, each a fundamental of 100 to 1000 Hz
    with 6 harmonics (amplitudes 2^-h) under an attack-decay envelope, panned, plus white noise at
    -54 dBFS: structure that the neural decoder's time context can exploit (about -14 dBFS)."""
    r = np.random.default_rng(seed)
    x, pos = np.zeros((frames, 2)), 0
    while pos < frames:
        n = int(r.uniform(0.1, 0.3) * rate)
        t = np.arange(n) / rate
        f0, pan = r.uniform(100, 1000), r.uniform(0.2, 0.8)
        note = sum(0.5 ** h * np.sin(2 * np.pi * f0 * (h + 1) * t + r.uniform(0, 6.3)) for h in range(6))
        note *= np.minimum(t / 0.01, 1) * np.exp(-t / r.uniform(0.05, 0.2)) * 0.25
        m = min(n, frames - pos)
        x[pos:pos + m] += note[:m, None] * [pan, 1 - pan]
        pos += n // 2
    x += 0.002 * r.standard_normal(x.shape)
    return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int32)


# Neural: 1-D packets J 5 (64 bands), K 16, a small residual path; a coarse gain makes the
# quantisation error dominant, which the decoder learns to reduce (lambda 0: the rate is fixed).
NEURAL = ["-J", "5", "-K", "16", "-N", "32", "-R", "1", "--gain", "4", "--lr", "1e-2", "--batch", "16",
          "--crop", "2048", "--warmup", "10", "--val-every", "150", "--seed", "3"]
NOTES, NOTES_VAL, NEURAL_MODEL = T("notes"), T("notes-val.wav"), T("neural-notes.wlm")
os.mkdir(NOTES)
for _i in range(4):
    save(os.path.join(NOTES, "n%d.wav" % _i), notes(48000, 16000, 200 + _i), 16000, 16)
save(NOTES_VAL, notes(32000, 16000, 7), 16000, 16)
NEURAL_RUN = run("train", "--steps", "300", "--val", NOTES_VAL, "-o", NEURAL_MODEL, *NEURAL, NOTES)


@test("audio: neural train, 300 steps on 12 s of stereo notes: held-out PSNR rises at every k")
def _():
    rc, _, err = NEURAL_RUN
    assert rc == 0, err
    v = {int(m.group(1)): [float(x.split("@")[0]) for x in m.group(2).split()]
         for m in re.finditer(r"step (\d+)/\d+.*?val ([\d.@ ]+) dB@kbps", err)}
    assert 0 in v and 300 in v, err
    gain = [b - a for a, b in zip(v[0], v[300])]
    assert gain[3] > 0.25 and min(gain) > 0.1, "PSNR change at k = K/4, K/2, 3K/4, K: %s" % gain
    head = wlm_header(NEURAL_MODEL)
    meta = head["__metadata__"]
    assert (meta["dims"], meta["kind"], meta["channels"], meta["name"]) == ("1", "neural", "2", "stereo"), meta
    assert head["residual.0.conv1.weight"]["shape"] == [32, 32, 1, 3], head["residual.0.conv1.weight"]


@test("audio: the neural model codes a held-out clip of odd length: exact frames, rate, channels")
def _():
    x, s = notes(12345, 22050, 8), {}
    for keep in (0, 4):
        src, wlc, out = roundtrip(None, x, 22050, 16, "nn%d.wav" % keep, "nn%d.out.wav" % keep,
                                  ["--keep", str(keep)] if keep else [], model=NEURAL_MODEL)
        same_shape(out, 12345, 22050, 2, "PCM_16")
        s[keep] = snr(x, load(out, 16))
    # gain 4 is coarse: this clip measures an SNR of 5.9 dB at K (PSNR 34 dB), 4.9 dB at k = 4
    assert s[0] > 4.5 and s[0] > s[4] + 0.5, "SNR at K and k = 4: %s" % s


def expect_failure(label, args, stdin=None, name=None, out=None, say=None):
    o = out or T("bad-output" + (".wav" if args[0] == "decode" else ".wlc"))
    test("audio bad input: " + label)(lambda: fails_cleanly(args, o, stdin, (name, say)))


def write(name, data):
    open(T(name), "wb").write(data)
    return T(name)


def patched(b, off, fmt, value):
    """An audio .wlc with a file header field changed and the header's CRC-32 (bytes 36..39)
    recomputed, so that the field itself is what the decoder must refuse."""
    b = bytearray(b)
    struct.pack_into(fmt, b, off, value)
    struct.pack_into("<I", b, 36, zlib.crc32(bytes(b[:36])))
    return bytes(b)



good_wav = save(T("good.wav"), clip(23456, 44100, 2, 15), 44100, 16)
wav = open(good_wav, "rb").read()
flac = open(save(T("good.flac"), clip(23456, 44100, 2, 15), 44100, 16), "rb").read()
ogg = open(save(T("good.ogg"), clip(23456, 44100, 2, 15), 44100, 16, "VORBIS"), "rb").read()
run("encode", "-f", "-m", MODEL[2], good_wav, "-o", T("good.wlc"))
wlc = open(T("good.wlc"), "rb").read()
M = ["-m", MODEL[2]]
sf.write(T("float.wav"), np.zeros((100, 2), np.float32), 44100, subtype="FLOAT")

expect_failure("--refine (images only)", ["encode", *M, "--refine", "5", good_wav], name="good.wav", say="images only")
expect_failure("6 channels, stereo model", ["encode", *M, save(T("six-in.wav"), clip(5000, 8000, 6, 1), 8000, 16)],
               name="six-in.wav", say="6 channel")
expect_failure("6 channels, no -m: no built-in audio model for them", ["encode", save(T("six-nom.wav"), clip(5000, 8000, 6, 2), 8000, 16)],
               name="six-nom.wav", say="no built-in audio model")
expect_failure("image model on audio", ["encode", "-m", "rgb", good_wav], name="good.wav", say="image model")
expect_failure("audio model on an image", ["encode", *M, os.path.join(TOP, "testdata", "images", "garden-rgb8.png")],
               name="garden-rgb8.png", say="audio")
expect_failure("truncated WAV", ["encode", *M, write("cut.wav", wav[: len(wav) // 2])], name="cut.wav", say="truncated")
expect_failure("truncated FLAC", ["encode", *M, write("cut.flac", flac[: len(flac) // 2])], name="cut.flac")
expect_failure("truncated OGG", ["encode", *M, write("cut.ogg", ogg[: len(ogg) // 2])], name="cut.ogg")
expect_failure("WAV header only", ["encode", *M, write("hdr.wav", wav[:40])], name="hdr.wav")
expect_failure("garbage", ["encode", *M, write("noise.wav", np.random.default_rng(1).bytes(5000))], name="noise.wav")
expect_failure("garbage after a RIFF WAVE tag", ["encode", *M, write("riff.wav", wav[:12] + b"\xff" * 500)],
               name="riff.wav")
expect_failure("truncated WAV on stdin", ["encode", *M, "-"], stdin=wav[: len(wav) // 3], name="stdin")
expect_failure("float WAV", ["encode", *M, T("float.wav")], name="float.wav", say="float")
expect_failure("decode to an image format", ["decode", *M, T("good.wlc")], out=T("x.png"), say=".wav or .flac")
expect_failure("decode with no model", ["decode", T("good.wlc")], name="good.wlc", say="not built in")
expect_failure("decode with an image model", ["decode", "-m", "rgb", T("good.wlc")], name="good.wlc")
expect_failure("FLAC cannot hold 32-bit", ["decode", *M, write("s32.wlc", patched(wlc, 26, "<B", 32))],
               out=T("x.flac"), say="FLAC")
for _label, _off, _fmt, _val in [("sample rate 0", 16, "<I", 0), ("sample rate over 2^31 - 1", 16, "<I", 1 << 31),
                                 ("chunk length 0", 20, "<I", 0), ("chunk length over 2^24", 20, "<I", 1 << 25),
                                 ("chunk length not a multiple of 2^J", 20, "<I", (1 << 21) + 1),
                                 ("chunk length under the overlap", 20, "<I", 1024), ("depth 12", 26, "<B", 12),
                                 ("flags: an unknown bit", 27, "<B", 4), ("overlap 7", 32, "<I", 7), ("overlap 0", 32, "<I", 0),
                                 ("J 11", 6, "<B", 11), ("J 5 (model has 6)", 6, "<B", 5), ("modality 3", 5, "<B", 3),
                                 ("modality image", 5, "<B", 1), ("version 1 (one-block audio)", 4, "<B", 1),
                                 ("channels 17", 24, "<H", 17), ("channels 6", 24, "<H", 6)]:
    expect_failure(".wlc header: " + _label, ["decode", *M, write("h.wlc", patched(wlc, _off, _fmt, _val))],
                   name="h.wlc")
expect_failure(".wlc header: bit flip without a new CRC", ["decode", *M, write("f.wlc", wlc[:16] + b"\x23" + wlc[17:])],
               name="f.wlc", say="checksum")

sys.exit(finish())

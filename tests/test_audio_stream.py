#!/usr/bin/python3
"""Audio as a stream of chunks through the CLI (--chunk small, so every clip has many): round
trips keep rate, channels, length and depth for every length class of the last chunk; chunk
boundaries are inaudible on synthesised music (steady notes with vibrato and noise bursts), with a
linear and a small neural model: the RMS error within the overlap O of each boundary is no larger
than 1.25x the median elsewhere, and no larger than a one-chunk coding's there; latents, info,
eval; stdin from a pipe and from a file, stdout WAV with exact or unknown sizes, FLAC and OGG on
a pipe; an OGG whose header promises more frames than decode; -T1 == -T2; memory flat in the
length; corrupt, truncated and misordered records fail with one line and no output file."""
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import fails_cleanly, finish, peak_rss_kb, test, run, SANITIZED, WALLOC  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-stream-")  # removed at exit
TMP = TMPDIR.name
T = lambda *name: os.path.join(TMP, *name)  # noqa: E731
RATE, J, L = 22050, 6, 8192
O = 2 * -(-(8 * 2 ** J + 128) // 2 ** J) * 2 ** J  # the overlap of a linear model (walloc.h): 1280


def music(frames, rate, seed):
    """(frames, 2) int32 16-bit samples: a steady texture of overlapping notes (110 to 880 Hz,
    5 harmonics, vibrato of 0.5% at 4 to 6 Hz, attack-decay envelopes, panned), a new one every
    0.02 to 0.05 s, and a lowpassed noise burst every 0.25 to 0.5 s; peaks near -12 dBFS. Dense
    enough that the error's level is steady: the largest RMS error of 80 ms windows between chunk
    boundaries is 1.09 to 1.13x their median (seeds 7 to 9)."""
    r = np.random.default_rng(seed)
    x, pos = np.zeros((frames, 2)), 0
    while pos < frames:
        n = int(r.uniform(0.3, 0.8) * rate)
        t = np.arange(n) / rate
        phase = 2 * np.pi * np.cumsum(110 * 2 ** r.uniform(0, 3) * (1 + 0.005 * np.sin(2 * np.pi * r.uniform(4, 6) * t)))
        note = sum(0.6 ** h * np.sin((h + 1) * phase / rate + r.uniform(0, 6.3)) for h in range(5))
        note *= 0.05 * np.minimum(t / 0.02, 1) * np.exp(-t / r.uniform(0.3, 0.6))
        pan, m = r.uniform(0.2, 0.8), min(n, frames - pos)
        x[pos:pos + m] += note[:m, None] * [pan, 1 - pan]
        pos += int(r.uniform(0.02, 0.05) * rate)
    pos = int(r.uniform(0, 0.25) * rate)
    while pos < frames:
        n = int(r.uniform(0.02, 0.08) * rate)
        burst = np.convolve(r.standard_normal(n), np.ones(4) / 4, "same") * np.exp(-np.arange(n) / (0.3 * n)) * 0.08
        m = min(n, frames - pos)
        x[pos:pos + m] += burst[:m, None] * r.uniform(0.3, 1, 2)
        pos += int(r.uniform(0.25, 0.5) * rate)
    return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int32)


def save(path, x, rate=RATE, depth=16, subtype=None):
    sf.write(path, (x.astype(np.int64) << (32 - depth)).astype(np.int32), rate,
             subtype=subtype or {8: "PCM_U8", 16: "PCM_16", 24: "PCM_24"}[depth])
    return path


def load(path, depth=16):
    y, _ = sf.read(path, dtype="int32", always_2d=True)
    return y.astype(np.int64) >> (32 - depth)


def ok(args, stdin=None):
    rc, out, err = run(*args, stdin=stdin)
    assert rc == 0, "walloc %s: %s" % (" ".join(args), err)
    return out, err


def code(src, name, model, chunk=L, extra=()):
    """Encodes src with --chunk and decodes it to T(name); returns (.wlc path, decoded path). One
    thread: small chunks make many short parallel regions, slow on a loaded machine."""
    wlc, out = T(name + ".wlc"), T(name)
    ok(["encode", "-T1", "-f", "-m", model, "--chunk", str(chunk), *extra, src, "-o", wlc])
    ok(["decode", "-T1", "-f", "-m", model, wlc, "-o", out])
    return wlc, out


def info(wlc):
    return json.loads(ok(["info", "--json", wlc])[0])


os.mkdir(T("train"))
for _i in range(4):
    save(T("train", "m%d.wav" % _i), music(3 * RATE, RATE, 50 + _i))
MODEL = T("st.wlm")
ok(["train", "-T1", "--linear", "--channels", "2", "-J", str(J), "-K", "64", "-o", MODEL, T("train")])
NEURAL = T("nn.wlm")  # J 5, R 1: its overlap is 2 ceil((8 + 2) 32 + 128) / 32) 32 = 896 frames
ok(["train", "-T1", "-J", "5", "-K", "16", "-N", "16", "-R", "1", "--gain", "4", "--lr", "1e-2", "--batch", "8",
    "--crop", "2048", "--warmup", "10", "--steps", "150", "--val-every", "1000", "--seed", "2", "-o", NEURAL,
    T("train")])
SONG = save(T("song.wav"), music(10 * RATE, RATE, 7))  # 220500 frames: 26 chunk boundaries at L


@test("stream: round trips of 1 to 40 chunks keep rate, channels, length and depth; info tells the chunks")
def _():
    for n, depth, ext in [(L + O, 16, ".wav"), (L + O + 1, 16, ".wav"), (2 * L + O, 24, ".flac"), (5 * L + 77, 8, ".wav"),
                          (123457, 16, ".flac")]:
        x = music(n, RATE, n) >> (16 - depth) if depth < 16 else music(n, RATE, n) << (depth - 16)
        src = save(T("rt%d.wav" % n), x, depth=depth)
        wlc, out = code(src, "rt%d%s" % (n, ext), MODEL)
        i, j = sf.info(out), info(wlc)
        assert (i.frames, i.samplerate, i.channels) == (n, RATE, 2), "%d: %s" % (n, i)
        assert i.subtype == {8: "PCM_U8", 16: "PCM_16", 24: "PCM_24"}[depth], i.subtype
        chunks = -(-(n - O) // L)
        assert (j["frames"], j["chunk"], j["overlap"], j["chunks"]) == (n, L, O, chunks), j
        assert j["latent_shape"] == [64, 1, -(-n // 2 ** J)], j


def windows(err, centres, half):
    """RMS of err (frames) over [c - half, c + half) for each centre c."""
    c = np.concatenate([[0], np.cumsum(err)])
    return np.sqrt((c[centres + half] - c[centres - half]) / (2 * half))


def boundary_check(model, chunk, overlap, label):
    """The error within `overlap` of each inner chunk boundary against (a) the median of the same
    windows centred between boundaries, (b) a one-chunk coding's error in the same window."""
    x = load(SONG)
    _, out = code(SONG, label + "-many.wav", model, chunk)
    _, one = code(SONG, label + "-one.wav", model, 1 << 22)
    e_many, e_one = ((x - load(out)) ** 2).sum(1) / 2, ((x - load(one)) ** 2).sum(1) / 2
    bounds = np.arange(chunk, len(x) - chunk - overlap, chunk)
    near, mid = windows(e_many, bounds, overlap), windows(e_many, bounds + chunk // 2, overlap)
    ratio = near / np.median(mid)
    assert ratio.max() <= 1.25, "%s: boundary RMS / median elsewhere up to %.2f (%s)" % (label, ratio.max(), ratio)
    same = near / windows(e_one, bounds, overlap)
    if os.environ.get("SHOW_RATIOS"):
        print("  %s: near/median elsewhere max %.3f, near/one-chunk max %.4f" % (label, ratio.max(), same.max()))
    assert same.max() <= 1.02, "%s: boundary RMS / one-chunk RMS up to %.3f" % (label, same.max())
    return len(bounds)


@test("stream: no clicks: linear model, 25 boundaries: RMS error within O of each <= 1.25x the median elsewhere")
def _():
    assert boundary_check(MODEL, L, O, "lin") == 25


@test("stream: no clicks: neural model (R 1), 51 boundaries at --chunk 4096, the same bounds")
def _():
    j = info(code(SONG, "probe.wav", NEURAL, 4096)[0])
    assert j["overlap"] == 896, j
    assert boundary_check(NEURAL, 4096, 896, "nn") > 50


@test("stream: latents are (K, 1, ceil(T/2^J)), the one-chunk latents away from the ends; eval agrees")
def _():
    wlc_many, _ = code(SONG, "lat-many.wav", MODEL)
    wlc_one, _ = code(SONG, "lat-one.wav", MODEL, 1 << 22)
    for w in (wlc_many, wlc_one):
        ok(["latents", "-f", "-m", MODEL, w, "-o", w + ".npy"])
    a, b = np.load(wlc_many + ".npy"), np.load(wlc_one + ".npy")
    assert a.shape == b.shape == (64, 1, -(-220500 // 64)), "%s %s" % (a.shape, b.shape)
    k = O // 64
    assert np.array_equal(a[:, :, k:-k], b[:, :, k:-k]), "%d latents differ" % (a[:, :, k:-k] != b[:, :, k:-k]).sum()
    out, _ = ok(["eval", "-m", MODEL, SONG, wlc_many])
    assert b"SNR" in out and b"220500 frames" in out, out


def info_bytes(wlc):
    open(T("ib.wlc"), "wb").write(wlc)
    return info(T("ib.wlc"))


def same_frames(wav_bytes, ref):
    y, rate = sf.read(io.BytesIO(wav_bytes), dtype="int16", always_2d=True)
    assert rate == RATE and np.array_equal(y, sf.read(ref, dtype="int16", always_2d=True)[0]), "samples differ"


@test("stream: stdin (pipe or file) and stdout: same bytes as files; WAV/FLAC/OGG on a pipe; unknown-size WAV")
def _():
    x = music(3 * L + 999, RATE, 3)
    wav, flac = save(T("p.wav"), x), save(T("p.flac"), x)
    ref, _ = ok(["encode", "-m", MODEL, "--chunk", str(L), "-c", wav])
    assert info_bytes(ref)["chunks"] == 3
    assert ok(["encode", "-m", MODEL, "--chunk", str(L), "-"], stdin=open(wav, "rb").read())[0] == ref, "WAV pipe"
    assert ok(["encode", "-m", MODEL, "--chunk", str(L), "-"], stdin=open(flac, "rb").read())[0] == ref, "FLAC pipe"
    p = subprocess.run([WALLOC, "encode", "-m", MODEL, "--chunk", str(L), "-"], stdin=open(wav, "rb"), capture_output=True)
    assert p.returncode == 0 and p.stdout == ref, "stdin from a file " + p.stderr.decode()
    ogg = save(T("p.ogg"), x, subtype="VORBIS")
    assert ok(["encode", "-m", MODEL, "-"], stdin=open(ogg, "rb").read())[0] == ok(["encode", "-m", MODEL, "-c", ogg])[0]
    open(T("p.wlc"), "wb").write(ref)
    ok(["decode", "-f", "-m", MODEL, T("p.wlc"), "-o", T("p.out.wav")])
    out, _ = ok(["decode", "-m", MODEL, "-c", T("p.wlc")])  # a file: sizes known up front
    assert out == open(T("p.out.wav"), "rb").read(), "stdout WAV differs from the file's"
    piped, _ = ok(["decode", "-m", MODEL, "-"], stdin=ref)  # a pipe: sizes unknown
    assert piped[4:8] == b"\xff\xff\xff\xff" and piped[40:44] == b"\xff\xff\xff\xff", piped[:44]
    assert piped[44:] == out[44:], "stdout samples differ"
    same_frames(piped, T("p.out.wav"))
    for size in (b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\0\0\0\0"):  # unknown; arecord's; unknown
        again, _ = ok(["encode", "-m", MODEL, "--chunk", str(L), "-"], stdin=piped[:40] + size + piped[44:])
        ok(["decode", "-f", "-m", MODEL, "-", "-o", T("again.wav")], stdin=again)
        assert sf.info(T("again.wav")).frames == len(x), "a WAV of size %s on a pipe lost frames" % size


def ogg_page_crc(b):
    c = 0
    for x in b:
        c ^= x << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7 if c & 0x80000000 else c << 1) & 0xFFFFFFFF
    return c


@test("stream: an OGG whose header promises 5000 more frames than decode codes the frames that decode (-v says so)")
def _():
    b = bytearray(open(save(T("v.ogg"), music(30000, RATE, 4), subtype="VORBIS"), "rb").read())
    pos = last = 0
    while pos < len(b):  # the last page
        last, pos = pos, pos + 27 + b[pos + 26] + sum(b[pos + 27:pos + 27 + b[pos + 26]])
    struct.pack_into("<q", b, last + 6, struct.unpack_from("<q", b, last + 6)[0] + 5000)
    struct.pack_into("<I", b, last + 22, 0)
    struct.pack_into("<I", b, last + 22, ogg_page_crc(b[last:]))
    open(T("long.ogg"), "wb").write(b)
    with sf.SoundFile(T("long.ogg")) as f:
        declared, decoded = f.frames, 0
        while len(blk := f.read(4096)):
            decoded += len(blk)
    assert declared > decoded, (declared, decoded)
    _, err = ok(["encode", "-f", "-m", MODEL, T("long.ogg"), "-o", T("long.wlc")])
    assert err == "", err
    _, err = ok(["encode", "-v", "-f", "-m", MODEL, T("long.ogg"), "-o", T("long.wlc")])
    assert ("says %d frames, %d decode" % (declared, decoded)) in err, err
    ok(["decode", "-f", "-m", MODEL, T("long.wlc"), "-o", T("long.wav")])
    assert sf.info(T("long.wav")).frames == decoded, sf.info(T("long.wav"))


@test("stream: -T1 and -T2 give the same bytes and the same decoded samples")
def _():
    enc = [ok(["encode", "-T%d" % t, "-m", MODEL, "--chunk", str(L), "-c", SONG])[0] for t in (1, 2)]
    assert enc[0] == enc[1], "encoded bytes differ"
    open(T("t.wlc"), "wb").write(enc[0])
    dec = [ok(["decode", "-T%d" % t, "-m", MODEL, "-c", T("t.wlc")])[0] for t in (1, 2)]
    assert dec[0] == dec[1], "decoded samples differ"


@test("stream: memory is flat in the length: 8 minutes code in the memory of 1 (8 kHz stereo, --chunk 16384)")
def _():
    if SANITIZED:
        print("  (not measured: an AddressSanitizer build holds freed memory in its quarantine)")
        return
    r = np.random.default_rng(5)
    one = music(60 * 8000, 8000, 9)
    rss = []
    for minutes in (1, 8):
        x = np.concatenate([one] * minutes)
        x[:, 0] = np.roll(x[:, 0], r.integers(1000))  # not the same chunk over and over
        src = save(T("m%d.wav" % minutes), x, rate=8000)
        rss.append((peak_rss_kb("encode", "-T1", "-f", "-m", MODEL, "--chunk", "16384", src, "-o", src + ".wlc"),
                    peak_rss_kb("decode", "-T1", "-f", "-m", MODEL, src + ".wlc", "-o", src + ".out.wav")))
        assert sf.info(src + ".out.wav").frames == len(x)
    grew = [b - a for a, b in zip(*rss)]
    # floats of the whole 8-minute clip would be 31 MB, and as many again to decode
    assert max(grew) < 6000, "peak RSS (KB) of 1 and 8 minutes, encode and decode: %s" % rss


@test("stream: a chunk of the default 2^22 frames (stereo) decodes in segments: at most 64 MB peak on 1 and 2 "
      "threads (the chunk whole took 169 MB), the samples of a whole-chunk decode (test_stream.c)")
def _():
    if SANITIZED:
        print("  (not measured: an AddressSanitizer build holds freed memory in its quarantine)")
        return
    x = np.concatenate([music(60 * 44100, 44100, 3)] * 2)  # 2 minutes: a whole chunk and a part
    src = save(T("two.wav"), x, rate=44100)
    assert run("encode", "-f", "-m", "stereo", src, "-o", T("two.wlc"))[0] == 0
    kb = [peak_rss_kb("decode", "-T%d" % t, "-f", T("two.wlc"), "-o", T("two.out.wav")) for t in (1, 2)]
    print("  peak RSS: %d KB on 1 thread, %d on 2" % tuple(kb))
    assert max(kb) <= 64 * 1024, kb


def expect_failure(label, args, stdin=None, say=None, out=None):
    test("stream bad input: " + label)(lambda: fails_cleanly(args, out or T("bad-out.wav"), stdin, (say,)))


GOOD = ok(["encode", "-m", MODEL, "--chunk", str(L), "-c", save(T("g.wav"), music(4 * L, RATE, 8))])[0]
HEAD = 40


def record_end(b, at):
    """Where the chunk record starting at `at` of a stereo K 64 stream with a band envelope ends:
    64 latent entries, then 2 envelope entries."""
    return at + 10 + 5 * 66 + sum(struct.unpack_from("<I", b, at + 10 + 5 * c + 1)[0] for c in range(66)) + 4


def bad(name, b):
    open(T(name), "wb").write(b)
    return T(name)


R1 = record_end(GOOD, HEAD)
R2 = record_end(GOOD, R1)
M = ["decode", "-m", MODEL]
expect_failure("truncated inside a chunk record", [*M, bad("cut.wlc", GOOD[:R1 + 100])], say="truncated")
expect_failure("truncated before the end record", [*M, bad("noend.wlc", GOOD[:-14])], say="truncated")
expect_failure("truncated on stdin", [*M, "-"], stdin=GOOD[:len(GOOD) // 2], say="truncated")
expect_failure("a flipped stream byte", [*M, bad("flip.wlc", GOOD[:R1 - 9] + b"\x5a" + GOOD[R1 - 8:])],
               say="checksum")
expect_failure("chunk records swapped", [*M, bad("swap.wlc", GOOD[:HEAD] + GOOD[R1:R2] + GOOD[HEAD:R1] + GOOD[R2:])],
               say="corrupt")
expect_failure("a chunk record missing", [*M, bad("gap.wlc", GOOD[:R1] + GOOD[R2:])], say="corrupt")
expect_failure("bytes after the end record", [*M, bad("tail.wlc", GOOD + b"\0")], say="corrupt")
expect_failure("a stream length over its bound",
               [*M, bad("len.wlc", GOOD[:HEAD + 10 + 1] + b"\xff\xff\xff\x7f" + GOOD[HEAD + 15:])], say="corrupt")
expect_failure("FLAC out, stream cut", [*M, bad("cut2.wlc", GOOD[:R2 + 7])], out=T("bad-out.flac"), say="truncated")
expect_failure("--chunk not a multiple of 2^J", ["encode", "-m", MODEL, "--chunk", "10000", T("g.wav")],
               out=T("bad.wlc"), say="multiple of 64")
@test("stream: an AU of unknown length (0xFFFFFFFF) reads from a pipe as from its file; -o .mp3/.opus is a usage "
      "error; info prints one detail line")
def _():
    x = (np.sin(np.arange(2 * 22050) / 9) * 8000).astype(">i2")  # stereo, interleaved
    au = b".snd" + struct.pack(">IIIII", 24, 0xffffffff, 3, RATE, 2) + x.tobytes()
    open(T("u.au"), "wb").write(au)
    rc, piped, err = run("encode", "-m", MODEL, "-", "-o", "-", stdin=au)
    rc2, _, err2 = run("encode", "-q", "-f", "-m", MODEL, T("u.au"), "-o", T("u.wlc"))
    assert rc == 0 and rc2 == 0 and piped == open(T("u.wlc"), "rb").read(), (err, err2)
    for cmd, out in (("decode", "x.mp3"), ("decode", "x.opus"), ("encode", "x.m4a")):
        rc, _, err = run(cmd, "-m", MODEL, T("u.wlc" if cmd == "decode" else "u.au"), "-o", T(out))
        assert rc == 2 and not os.path.exists(T(out)) and "not ." in err, (cmd, out, rc, err)
    rc, _, err = run("encode", "-q", "-f", "-m", MODEL, "--step", "300", T("u.au"), "-o", T("ud.wlc"))
    rc2, out, _ = run("info", T("ud.wlc"))
    assert rc == rc2 == 0 and out.decode().count("detail:") == 1, (err, out)


expect_failure("--chunk under the overlap", ["encode", "-m", MODEL, "--chunk", "1024", T("g.wav")], out=T("bad.wlc"),
               say="at least 1280")

sys.exit(finish())

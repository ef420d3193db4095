#!/usr/bin/python3
"""Audio rate control through the CLI: --kbps X and --size N write the largest rung of the audio
ladder (1 .. K/8 channels, then K/8 and detail steps) whose file fits (the next would not),
byte for byte the --keep/--step encode of it; --snr D a rung whose SNR (numpy) reaches D and the
rung below does not;
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
import audioref  # noqa: E402

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


def rung(name):
    """(keep, step) of an encoded file."""
    info = json.loads(run("info", "--json", T(name + ".wlc"))[1])
    return info["keep"], info["detail_step"]


@test("audio rate: --kbps and --size write the largest rung that fits (one more channel or step would not), "
      "byte for byte the --keep/--step encode of it")
def _():
    base = encode("k1", "--keep", "1")[0]
    for args, most in ((["--size", str(len(base) + 400)], len(base) + 400), (["--kbps", "6"], 6 * 1000 / 8 * SECONDS),
                       (["--kbps", "12"], 12 * 1000 / 8 * SECONDS)):
        data, _ = encode("t", *args)
        keep, step = rung("t")
        same, _ = encode("same", "--keep", str(keep), *(["--step", str(step)] if step else []))
        nxt = ["--keep", str(keep + 1)] if not step and keep < 13 else ["--keep", str(keep), "--step", str(step + 1)]
        more, _ = encode("more", *nxt)
        assert data == same, "%s: not the bytes of keep %d step %d" % (args, keep, step)
        assert len(data) <= most < len(more), "%s: %d bytes at keep %d step %d, %d at the next rung" % (
            args, len(data), keep, step, len(more))


@test("audio rate: a size between two channel counts is filled by detail steps on the fewer: within 2% under, "
      "byte for byte --keep k --step s, one step more over")
def _():
    three, four = (len(encode("c%d" % k, "--keep", str(k))[0]) for k in (3, 4))
    most = (three + four) // 2
    data, _ = encode("gap", "--size", str(most))
    keep, step = rung("gap")
    assert keep == 3 and step > 0 and 0.98 * most <= len(data) <= most, (keep, step, len(data), three, most, four)
    assert data == encode("gs", "--keep", "3", "--step", str(step))[0]
    assert len(encode("gs1", "--keep", "3", "--step", str(step + 1))[0]) > most


def decoded_snr(wlc):
    """SNR in dB of wlc decoded, against the clip (numpy)."""
    out = wlc + ".wav"
    rc, _, err = run("decode", "-q", "-f", wlc, "-o", out)
    assert rc == 0, err
    return audioref.snr(sf.read(SRC, dtype="int16")[0], sf.read(out, dtype="int16")[0])


@test("audio rate: a budget past the point where the clip decodes exactly gives the coarsest rung that does: "
      "silence at --kbps 64 and --size 10^6 is the file of --keep 1, and decodes to silence")
def _():
    sf.write(T("silence.wav"), np.zeros((2 * RATE, 2), np.int16), RATE, subtype="PCM_16")
    files = []
    for args in (["--keep", "1"], ["--kbps", "64"], ["--size", "1000000"]):
        rc, _, err = run("encode", "-q", "-f", "-m", "stereo", *args, T("silence.wav"), "-o", T("s.wlc"))
        assert rc == 0, err
        files.append(open(T("s.wlc"), "rb").read())
    assert files[1] == files[0] and files[2] == files[0], [len(f) for f in files]
    rc, _, err = run("decode", "-q", "-f", "-m", "stereo", T("s.wlc"), "-o", T("s.wav"))
    assert rc == 0 and not sf.read(T("s.wav"), dtype="int16")[0].any(), err


@test("audio rate: the detail layer raises SNR with the step")
def _():
    snrs = [decoded_snr(T("s%d.wlc" % st)) for st in (0, 520, 620)
            if encode("s%d" % st, "--step", str(st)) or True]
    assert snrs[0] + 3 < snrs[1] < snrs[2] - 3, "SNR at steps 0, 520, 620: %s" % snrs


@test("audio rate: --snr D writes a rung whose decoded SNR reaches D, the rung below it does not")
def _():
    for want in (8.0, 24.0):
        _, keep = encode("snr", "--snr", str(want))
        step = json.loads(run("info", "--json", T("snr.wlc"))[1])["detail_step"]
        got = decoded_snr(T("snr.wlc"))
        below = ["--keep", str(keep - 1)] if not step else ["--keep", str(keep)] + (
            ["--step", str(step - 1)] if step > 1 else [])
        encode("below", *below)
        assert got >= want > decoded_snr(T("below.wlc")), "--snr %g: %.2f dB at keep %d step %d; below: %.2f" % (
            want, got, keep, step, decoded_snr(T("below.wlc")))


@test("audio rate: a file with a detail layer shows, gives its latents, and refuses latents --detail in one line")
def _():
    encode("d", "--step", "500")
    for args, out in ((["show", T("d.wlc")], T("d.png")), (["latents", T("d.wlc")], T("d.npy"))):
        rc, _, err = run(*args, "-f", "-o", out)
        assert rc == 0 and os.path.getsize(out) > 0, (args, err)
    fails_cleanly(["latents", T("d.wlc"), "--detail", T("dd.npy")], T("l.npy"), has=("per chunk",))


@test("audio rate: a target below one channel is one line, exit 1, no output")
def _():
    fails_cleanly(["encode", "-m", "stereo", "--kbps", "0.05", SRC], T("low.wlc"), has=("below the one-channel",))
    fails_cleanly(["encode", "-m", "stereo", "--size", "100", SRC], T("low2.wlc"), has=("below the one-channel",))


@test("audio rate: -Q 0..100 is monotone in size")
def _():
    sizes = [len(encode("q%d" % q, "-Q", str(q))[0]) for q in (0, 10, 20, 40, 60, 80, 100)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 7, sizes


@test("audio rate: --bpp/--psnr refused for audio, --kbps for images")
def _():
    fails_cleanly(["encode", "-m", "stereo", "--psnr", "30", SRC], T("p.wlc"), has=("apply to images only",))
    fails_cleanly(["encode", "--kbps", "8", os.path.join(IMAGES, "garden-rgb8.png")], T("i.wlc"),
                  has=("--kbps and --snr apply to audio only",))


@test("audio rate: --masks (per-segment masks) on a loud chord then a quiet tone: at -Q 30, 40 and 60 no more "
      "bytes than without, and an SNR (numpy) at least the ladder's without masks at those bytes (interpolated "
      "between its -Q rungs); masked latents sit at one value through whole segments; -T1 and -T2 the same bytes")
def _():
    t = np.arange(6 * RATE) / RATE
    r = np.random.default_rng(9)
    loud = sum(np.sin(2 * np.pi * f * t[:3 * RATE] + r.uniform(0, 6)) for f in (220, 330, 1250, 3100, 5200)) / 5
    x = np.concatenate([loud + 0.05 * r.standard_normal(3 * RATE), 0.05 * np.sin(2 * np.pi * 440 * t[3 * RATE:])])
    src = T("two.wav")
    sf.write(src, np.round(np.stack([x, 0.8 * x], 1) * 20000).astype(np.int16), RATE, subtype="PCM_16")
    ref = sf.read(src, dtype="int16", always_2d=True)[0]

    def point(q, *args):
        out = T("two-%s%s.wlc" % (q, "".join(args)))
        rc, _, err = run("encode", "-q", "-f", "-m", "stereo", "-Q", str(q), *args, src, "-o", out)
        assert rc == 0, err
        assert run("decode", "-q", "-f", out, "-o", out + ".wav")[0] == 0
        return os.path.getsize(out), audioref.snr(ref, sf.read(out + ".wav", dtype="int16", always_2d=True)[0]), out

    plain = [point(q) for q in range(0, 101, 5)]
    for q in (30, 40, 60):
        size, snr, out = point(q, "--masks")
        assert size <= plain[q // 5][0], (q, size, plain[q // 5][0])
        ladder = np.interp(np.log(size), np.log([p[0] for p in plain]), [p[1] for p in plain])
        assert snr >= ladder, "-Q %d: %d bytes at %.2f dB; without masks %.2f dB there" % (q, size, snr, ladder)
        other = T("two-T1.wlc")
        assert run("encode", "-q", "-f", "-m", "stereo", "-Q", str(q), "--masks", "-T1", src, "-o", other)[0] == 0
        assert open(other, "rb").read() == open(out, "rb").read(), q
    runs = []
    for name in ("two-30--masks.wlc", "two-30.wlc"):
        assert run("latents", "-q", "-f", T(name), "-o", T("two.npy"))[0] == 0
        lat = np.load(T("two.npy")).reshape(13, -1)
        runs.append(sum(len(set(lat[c, s:s + 64])) == 1 for c in range(13) for s in range(0, lat.shape[1] - 64, 64)))
    assert runs[0] > runs[1] + 10, "segments of one value at -Q 30: %d with --masks, %d without" % tuple(runs)


sys.exit(finish())

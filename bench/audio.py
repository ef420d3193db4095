#!/usr/bin/python3
"""Audio benchmark (make bench): walloc against opusenc at the same bitrate, and flac -8, on the
held-out music (corpus/audio/music/val, 44.1 kHz stereo) and speech (corpus/audio/speech/val,
44.1 kHz mono) of scripts/audio_corpus.sh.

The reference of every file is its Vorbis decoded once to a 16-bit WAV (libsndfile, as walloc
reads OGG); every codec encodes that WAV and is measured against it.
1. walloc, per model of BENCH_AUDIO_MODELS ("MODEL[:KEEP][@OPUS],...", MODEL a .wlm file or a
   built-in name; default: the built-in stereo-20x, stereo, stereo@16, mono-20x, mono, mono@12),
   on the corpus of the model's channel count: the .wlc's kbps, and SNR, WaLLoC PSNR, SI-SDR,
   LSD, mel distance and the 4-8 and 8-16 kHz energy kept from `walloc eval --json` (man walloc,
   AUDIO MEASURES). MODEL@OPUS: opus first at --bitrate OPUS, then walloc --kbps at the kbps
   opus reached on that file (same rate, opus's choice of it).
2. opusenc --bitrate R, R = walloc's kbps for that file (VBR, the default), then opusdec --rate
   RATE --no-dither (16-bit, rounded like walloc's output). opusdec drops the pre-skip, which
   leaves the output aligned at CELT rates (lag 0 on music); at SILK rates (a few kbps) the
   waveform lags by a few samples, so the lag of the cross-correlation peak within +-ALIGN
   samples is applied (favouring opus; a wider search is reported, never applied: on speech at
   5 kbps it finds spurious peaks hundreds of samples away). Then the same measures in
   numpy (tests/py/audioref.py, which shares nothing with the C; walloc's own output is measured
   by it too, as a check of eval).
3. flac -8 kbps: the lossless rate.
4. BENCH_AUDIO_LINEAR ("A.wlm,B.wlm", linear models; the one of the corpus's channel count is
   used): run at --keep K/32, K/16 ... K, its measures interpolated linearly in kbps to walloc's
   kbps per file: a linear (PCA) baseline at the same rate; "-" outside the measured range.
Speeds are whole-process M samples/s (all channels), median of RUNS_AUDIO (3) runs; walloc at
-T BENCH_AUDIO_THREADS (2), opusenc/opusdec single-threaded (they have no thread option).
5. Encode speed of a 10-minute file (the held-out music joined, cut at 10 minutes): walloc -T1
   with its defaults against opusenc --bitrate 16, taking turns, median of RUNS_AUDIO runs. Music
has a row per file; speech (200 short clips) a row per language, every file in
$tmp/audio-speech.json. A file that walloc fails to encode is left out for every codec, with the
reason. BENCH_AUDIO_LIMIT=N: only the first N files of each corpus (a quick run);
BENCH_AUDIO_SETS=music or speech: one corpus."""
import glob
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import time

import numpy as np
import soundfile as sf

from common import TOP, WALLOC, tmp

sys.path.insert(0, os.path.join(TOP, "tests", "py"))
import audioref  # noqa: E402

# A copy of ./walloc: every run of this (long) benchmark uses one build, even if the tree is rebuilt.
WALLOC = shutil.copy(WALLOC, os.path.join(tmp, "walloc"))
RUNS = int(os.environ.get("RUNS_AUDIO", "3"))
THREADS = int(os.environ.get("BENCH_AUDIO_THREADS", "2"))
LIMIT = int(os.environ.get("BENCH_AUDIO_LIMIT", "0"))
CORPORA = [c for c in (("music", 2), ("speech", 1))
           if c[0] in os.environ.get("BENCH_AUDIO_SETS", "music,speech").split(",")]
MEASURES = ("snr", "psnr", "si_sdr", "lsd", "mel", "keep_4_8k", "keep_8_16k")
ALIGN = 64  # samples: the largest lag applied to opus's output (its pre-skip is already removed)


class Failed(Exception):
    pass


def run(*cmd):
    """Runs cmd once (stdout discarded); returns its wall time; Failed with its last stderr line."""
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.perf_counter() - t
    if p.returncode:
        err = p.stderr.decode(errors="replace").strip().splitlines()
        raise Failed(err[-1] if err else "%s: exit status %d" % (cmd[0], p.returncode))
    return t


def median_time(*cmd):
    return statistics.median(run(*cmd) for _ in range(RUNS))


def model_meta(spec):
    """The __metadata__ of a .wlm file (its safetensors header), or None for a built-in name."""
    if not os.path.isfile(spec):
        return None
    with open(spec, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]


def builtin_channels(name):
    """The channel count of built-in audio model `name` (stereo, stereo-20x 2, mono, mono-20x 1),
    or None when this walloc has no such model: found by encoding a short clip with it."""
    channels = {"stereo": 2, "stereo-20x": 2, "mono": 1, "mono-20x": 1}.get(name)
    if channels is None:
        return None
    probe = os.path.join(tmp, "probe%d.wav" % channels)
    sf.write(probe, np.zeros((4096, channels), np.int16), 44100, subtype="PCM_16")
    try:
        run(WALLOC, "encode", "-q", "-f", "-m", name, probe, "-o", probe + ".wlc")
        return channels
    except Failed:
        return None


def models():
    """[(model, keep or None, channels, opus kbps or None)] from BENCH_AUDIO_MODELS, and notes on
    those skipped."""
    env = os.environ.get("BENCH_AUDIO_MODELS", "")
    out, notes = [], []
    for spec in [s for s in env.split(",") if s] or ["stereo-20x", "stereo", "stereo@16", "mono-20x", "mono", "mono@12"]:
        spec, at = (spec.rsplit("@", 1) + [None])[:2] if "@" in spec else (spec, None)
        model, keep = (spec.rsplit(":", 1) + [None])[:2] if ":" in spec else (spec, None)
        meta = model_meta(model)
        channels = int(meta["channels"]) if meta else builtin_channels(model)
        if channels is None or (meta and meta.get("dims") != "1"):
            notes.append("%s: not an audio model (no such file or built-in model)" % model)
        else:
            out.append((model, int(keep) if keep else None, channels, float(at) if at else None))
    return out, notes


def references(name):
    """[(stem, reference WAV, samples (frames, channels) int16, rate)] of corpus `name`."""
    files = sorted(glob.glob(os.path.join(TOP, "corpus", "audio", name, "val", "*.ogg")))
    out = []
    for src in files[:LIMIT or None]:
        stem = os.path.basename(src)[:-4]
        wav = os.path.join(tmp, "%s-%s.wav" % (name, stem))
        x, rate = sf.read(src, dtype="int16", always_2d=True)
        sf.write(wav, x, rate, subtype="PCM_16")
        out.append((stem, wav, x, rate))
    return out


def kbps(path, x, rate, nbytes=None):
    return 8.0 * (os.path.getsize(path) if nbytes is None else nbytes) / (x.shape[0] / rate) / 1000


def ogg_header_bytes(path):
    """Bytes of the first two Ogg pages of an .opus file: its ID and comment headers, no audio."""
    data, pos = open(path, "rb").read(), 0
    for _ in range(2):
        nseg = data[pos + 26]
        pos += 27 + nseg + sum(data[pos + 27:pos + 27 + nseg])
    return pos


def walloc_point(model, keep, wav, out, timing=True, target=None):
    """walloc on one file (decoded to OUT.wav), with --keep keep or --kbps target: its eval --json,
    and the encode and decode times (medians when timing, else of one run)."""
    args = ["-q", "-f", "-T%d" % THREADS, "-m", model]
    rate = ["--keep", str(keep)] if keep else ["--kbps", "%.4f" % target] if target else []
    enc = [WALLOC, "encode", *args, *rate, wav, "-o", out + ".wlc"]
    dec = [WALLOC, "decode", *args, out + ".wlc", "-o", out + ".wav"]
    t = (median_time(*enc), median_time(*dec)) if timing else (run(*enc), run(*dec))
    p = subprocess.run([WALLOC, "eval", "--json", "-m", model, wav, out + ".wlc"], capture_output=True)
    if p.returncode:
        raise Failed(p.stderr.decode().strip())
    ev = json.loads(p.stdout)
    return ev, t


def best_lag(x, y, max_lag, span=1 << 17):
    """The lag l, |l| <= max_lag, that maximises sum_t x[t] y[t + l] over `span` samples of the
    mono downmixes in the middle of the clip (FFT cross-correlation)."""
    a, b = x.mean(axis=1), y.mean(axis=1)
    span = min(span, len(a))
    s0 = (len(a) - span) // 2
    seg = a[s0:s0 + span]
    ref = np.zeros(span + 2 * max_lag)
    lo, hi = max(0, s0 - max_lag), min(len(b), s0 + span + max_lag)
    ref[lo - (s0 - max_lag):hi - (s0 - max_lag)] = b[lo:hi]
    n = 1 << int(np.ceil(np.log2(len(ref) + span)))
    c = np.fft.irfft(np.fft.rfft(ref, n) * np.conj(np.fft.rfft(seg, n)), n)[:2 * max_lag + 1]
    return int(np.argmax(c)) - max_lag


def shifted(y, lag, frames):
    """y advanced by lag samples (y[t + lag]) and cut or zero-padded to `frames`."""
    y = y[lag:] if lag >= 0 else np.concatenate([np.zeros((-lag, y.shape[1]), y.dtype), y])
    return np.concatenate([y, np.zeros((max(0, frames - len(y)), y.shape[1]), y.dtype)])[:frames]


def opus_point(wav, x, rate, target, out):
    """opusenc at `target` kbps and opusdec back to RATE Hz: numpy measures of the aligned output,
    its kbps, the lag found, and the median encode and decode times."""
    enc = ["opusenc", "--quiet", "--bitrate", "%.3f" % target, wav, out + ".opus"]
    dec = ["opusdec", "--quiet", "--rate", str(rate), "--no-dither", out + ".opus", out + ".opus.wav"]
    t = (median_time(*enc), median_time(*dec))
    y = sf.read(out + ".opus.wav", dtype="int16", always_2d=True)[0]
    xf, yf = x.astype(float), y.astype(float)
    lag, wide = best_lag(xf, yf, ALIGN), best_lag(xf, yf, 4096)
    m = audioref.all_metrics(x, shifted(y, lag, len(x)), 16, rate)
    snr0 = audioref.snr(x, shifted(y, 0, len(x)))
    return dict(m, kbps=kbps(out + ".opus", x, rate), head_kbps=kbps(out + ".opus", x, rate, ogg_header_bytes(
        out + ".opus")), lag=lag, wide_lag=wide, snr_lag0=snr0, frames=len(y)), t


def linear_curve(model, wav, out):
    """The eval --json of a linear model at --keep K/32, K/16 ... K on one file, by kbps."""
    K = int(model_meta(model)["K"])
    pts = []
    for keep in sorted({max(1, K >> s) for s in range(6)}):
        ev, _ = walloc_point(model, keep, wav, "%s.lin%d" % (out, keep), timing=False)
        pts.append(ev)
    return sorted(pts, key=lambda p: p["kbps"])


def interpolate(curve, at):
    """The linear model's measures at `at` kbps (linear in kbps), None outside its range."""
    r = [p["kbps"] for p in curve]
    if not r or not min(r) <= at <= max(r):
        return None
    return dict({k: float(np.interp(at, r, [p[k] for p in curve])) for k in MEASURES
                 if all(p.get(k) is not None for p in curve)}, kbps=at)


def bench_file(model, keep, at, channels, linear, ref, name, notes):
    """Every measure of one file for one walloc setting; None (with a note) when a codec fails:
    the file is then left out for all of them. at: opus first, at `--bitrate at`, then walloc with
    --kbps at the kbps opus reached; else opus at walloc's kbps."""
    stem, wav, x, rate = ref
    out = os.path.join(tmp, "%s-%s-%s-%s-%s" % (name, stem, os.path.basename(model), keep, at))
    try:
        if at:
            o, (oe, od) = opus_point(wav, x, rate, at, out)
            w, (we, wd) = walloc_point(model, None, wav, out, target=o["kbps"])
        else:
            w, (we, wd) = walloc_point(model, keep, wav, out)
            o, (oe, od) = opus_point(wav, x, rate, w["kbps"], out)
        run("flac", "-8", "-s", "-f", wav, "-o", out + ".flac")
        curve = linear_curve(linear, wav, out) if linear else None
    except Failed as e:
        notes.append("%s: skipped for every codec: %s" % (stem, e))
        return None
    y = sf.read(out + ".wav", dtype="int16", always_2d=True)[0]
    check = max(abs(w[k] - v) for k, v in audioref.all_metrics(x, y, 16, rate).items() if v == v)  # NaN: no such band
    ms = x.size / 1e6
    row = {"file": stem, "walloc": dict(w, enc=ms / we, dec=ms / wd), "opus": dict(o, enc=ms / oe, dec=ms / od),
           "flac_kbps": kbps(out + ".flac", x, rate), "eval_vs_numpy": check, "speedup": oe / we}
    for f in glob.glob(out + ".*"):  # about 0.7 GB per music file and setting
        os.remove(f)
    if linear:
        row["linear"] = interpolate(curve, w["kbps"])
    return row


def cells(m, keys=("kbps",) + MEASURES + ("enc", "dec")):
    fmt = {"kbps": "%.2f", "lsd": "%.2f", "enc": "%.1f", "dec": "%.1f"}
    return ["-" if m is None or m.get(k) is None or m[k] != m[k] else fmt.get(k, "%.2f") % m[k] for k in keys]


def mean_of(rows, codec):
    """Means over rows of codec's measures (a band the originals lack, None or NaN, left out)."""
    ms = [r[codec] for r in rows if r.get(codec)]
    keys = [k for k in ("kbps",) + MEASURES + ("enc", "dec") if ms and k in ms[0]]
    vals = {k: [m[k] for m in ms if m.get(k) is not None and m[k] == m[k]] for k in keys}
    return {k: float(np.mean(v)) if v else None for k, v in vals.items()} if len(ms) == len(rows) else None


def table(groups, label):
    """A markdown table: per group (a file, or a language), walloc, opus and linear rows."""
    print("| %s | codec | kbps | SNR | PSNR | SI-SDR | LSD | mel | 4-8 kHz kept | 8-16 kHz kept | enc Ms/s | "
          "dec Ms/s | flac -8 kbps |" % label)
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in groups:
        flac = "%.1f" % np.mean([r["flac_kbps"] for r in rows])
        for codec, tag in (("walloc", "walloc"), ("opus", "opus"), ("linear", "linear (interp.)")):
            if codec == "linear" and "linear" not in rows[0]:
                continue
            print("| %s | %s | %s | %s |" % (name, tag, " | ".join(cells(mean_of(rows, codec))),
                                            flac if codec == "walloc" else ""))
            name = ""


def summary(rows):
    w, o = mean_of(rows, "walloc"), mean_of(rows, "opus")
    print("\nmeans over %d files: walloc - opus: SNR %+.2f dB, PSNR %+.2f dB, SI-SDR %+.2f dB, LSD %+.2f dB, "
          "mel %+.2f dB; opus at %.0f%% of walloc's kbps (VBR), of which its Ogg headers %.2f kbps"
          % (len(rows), w["snr"] - o["snr"], w["psnr"] - o["psnr"], w["si_sdr"] - o["si_sdr"], w["lsd"] - o["lsd"],
             w["mel"] - o["mel"], 100 * o["kbps"] / w["kbps"], np.mean([r["opus"]["head_kbps"] for r in rows])))
    print("speed of walloc -T%d over opus's: encode %.1fx (median of the per-file ratios %.1fx), decode %.1fx; "
          "flac -8 kbps over walloc's: %.1fx" % (THREADS, w["enc"] / o["enc"], statistics.median(r["speedup"] for r in rows), w["dec"] / o["dec"],
                     np.mean([r["flac_kbps"] for r in rows]) / w["kbps"]))
    lags = np.array([r["opus"]["lag"] for r in rows])
    others = "; others: median %+d, range %+d..%+d" % (np.median(lags[lags != 0]), lags.min(), lags.max()) \
        if lags.any() else ""
    print("opus alignment (after opusdec's pre-skip removal): the cross-correlation peak within +-%d samples is "
          "at lag 0 in %d of %d files%s; applied, it adds %+.2f dB SNR on average to lag 0; %d file(s) peak "
          "elsewhere within +-4096 (waveform too distorted to align); decoded length = reference in %d of %d files"
          % (ALIGN, (lags == 0).sum(), len(lags), others,
             np.mean([r["opus"]["snr"] - r["opus"]["snr_lag0"] for r in rows]),
             sum(r["opus"]["wide_lag"] != r["opus"]["lag"] for r in rows),
             sum(r["opus"]["frames"] == r["walloc"]["frames"] for r in rows), len(rows)))
    print("walloc eval vs numpy on walloc's own output: max |difference| %.1e dB"
          % max(r["eval_vs_numpy"] for r in rows))


def bench_corpus(name, channels, specs, linear):
    refs = references(name)
    if not refs:
        print("\n(no %s files in corpus/audio/%s/val: run scripts/audio_corpus.sh)" % (name, name))
        return
    sec = sum(len(r[2]) / r[3] for r in refs)
    print("\n## %s: %d files of corpus/audio/%s/val, %.1f min, %d Hz, %d channel(s)" %
          (name, len(refs), name, sec / 60, refs[0][3], channels))
    lin = next((m for m in linear if int(model_meta(m)["channels"]) == channels), None)
    if not [s for s in specs if s[2] == channels]:
        print("\nno %d-channel model in BENCH_AUDIO_MODELS" % channels)
    for model, keep, _, at in [s for s in specs if s[2] == channels]:
        notes = []
        rows = [r for r in (bench_file(model, keep, at, channels, lin, ref, name, notes) for ref in refs) if r]
        print("\n### walloc -m %s%s%s%s\n" % (model, " --keep %d" % keep if keep else "",
                                             " --kbps at opus --bitrate %g's kbps" % at if at else
                                             ", opus at walloc's kbps", ", linear: %s" % lin if lin else ""))
        for n in notes:
            print("- " + n)
        if not rows:
            continue
        if name == "speech":
            by = {}
            for r in rows:
                by.setdefault(r["file"].split("_")[0], []).append(r)
            table(sorted(by.items()) + [("**mean**", rows)], "language")
            path = os.path.join(tmp, "audio-speech-%s-%s-%s.json" % (os.path.basename(model), keep, at))
            json.dump(rows, open(path, "w"), indent=1)
            print("\nper file: %s" % path)
        else:
            table([(r["file"], [r]) for r in rows] + [("**mean**", rows)], "file")
        summary(rows)


def main():
    specs, notes = models()
    linear = [m for m in os.environ.get("BENCH_AUDIO_LINEAR", "").split(",") if m]
    print("# Audio: walloc vs opus at the same bitrate\n")
    print("machine: %s, %d cores; walloc -T%d, opusenc/opusdec single-threaded; speed: whole process, M samples/s "
          "(all channels), median of %d runs; measures in dB (man walloc, AUDIO MEASURES), means over files"
          % (os.uname().machine, os.cpu_count(), THREADS, RUNS, ))
    for n in notes:
        print("- " + n)
    if not specs:
        print("\nno audio model: set BENCH_AUDIO_MODELS=MODEL.wlm[:KEEP],...")
        return 0
    for name, channels in CORPORA:
        bench_corpus(name, channels, specs, linear)
    ten_minutes()
    return 0


def ten_minutes():
    """Item 5: -T1 encode of 10 minutes of held-out music against opusenc, same run."""
    tracks = sorted(glob.glob(os.path.join(TOP, "corpus/audio/music/val/*.ogg")))
    if not tracks:
        return
    parts = [sf.read(t, dtype="float32") for t in tracks]
    rate = parts[0][1]
    x = np.concatenate([p for p, r in parts if r == rate])[:600 * rate]
    wav = os.path.join(tmp, "ten-minutes-music.wav")
    sf.write(wav, x, rate, subtype="PCM_16")
    cmds = {"walloc -T1": [WALLOC, "encode", "-q", "-f", "-T1", wav, "-o", wav + ".wlc"],
            "opusenc --bitrate 16": ["opusenc", "--quiet", "--bitrate", "16", wav, wav + ".opus"]}
    got = {k: [] for k in cmds}
    for _ in range(RUNS):
        for k, cmd in cmds.items():
            got[k].append(run(*cmd))
    w, o = (statistics.median(got[k]) for k in cmds)
    print("\n10-minute encode (%.1f min of held-out music, %d Hz): walloc -T1 %.2f s, opusenc --bitrate 16 %.2f s: "
          "walloc %.1fx faster (median of %d runs)" % (len(x) / rate / 60, rate, w, o, o / w, RUNS))


if __name__ == "__main__":
    sys.exit(main())

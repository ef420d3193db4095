#!/usr/bin/python3
"""Audio rate-distortion curves (make bench): walloc on its audio ladder (-Q) against opusenc at a
range of bitrates, on held-out audio of scripts/audio_corpus.sh:
- music: 30 s from the middle of each of the 4 tracks of corpus/audio/music/val (44.1 kHz stereo),
  built-in `stereo`;
- speech: per held-out language (fr, he, uk), its first 40 files of corpus/audio/speech/val
  joined with 0.1 s of silence and resampled to 16 kHz (scipy's polyphase filter), built-in
  `mono`.
Each codec's output is measured against the same 16-bit reference in numpy (tests/py/audioref.py:
SNR, log-spectral distance, mel distance); opus decoded with opusdec --rate RATE --no-dither
(aligned at lag 0: bench/audio.py finds opus's music lag 0 at these rates). Per setting, the
mean over the files of kbps and of each measure. Prints the table; --plot FILE.svg draws SNR,
LSD and mel distance against kbps for both corpora (python3-matplotlib)."""
import glob
import os
import subprocess
import sys

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from common import TOP, WALLOC, tmp

sys.path.insert(0, os.path.join(TOP, "tests", "py"))
import audioref  # noqa: E402

QUALITY = (0, 15, 30, 45, 60, 65, 70, 75, 80, 85, 90)
OPUS = (6, 8, 12, 16, 24, 32, 48, 64)
MEASURES = (("snr", "SNR (dB, higher is better)"), ("lsd", "log-spectral distance (dB)"),
            ("mel", "mel distance (dB)"))


def music():
    out = []
    for src in sorted(glob.glob(os.path.join(TOP, "corpus", "audio", "music", "val", "*.ogg"))):
        x, rate = sf.read(src, dtype="int16", always_2d=True)
        a = max(0, len(x) // 2 - 15 * rate)
        path = os.path.join(tmp, "m-" + os.path.basename(src)[:-4] + ".wav")
        sf.write(path, x[a:a + 30 * rate], rate, subtype="PCM_16")
        out.append(path)
    return out


def speech():
    out = []
    for lang in ("fr", "he", "uk"):
        parts = []
        for f in sorted(glob.glob(os.path.join(TOP, "corpus", "audio", "speech", "val", lang + "_*.ogg")))[:40]:
            x, rate = sf.read(f, dtype="float64", always_2d=True)
            parts += [resample_poly(x.mean(axis=1), 16000, rate), np.zeros(1600)]
        if parts:
            path = os.path.join(tmp, "s-%s.wav" % lang)
            sf.write(path, np.clip(np.round(np.concatenate(parts) * 32768), -32768, 32767).astype(np.int16), 16000,
                     subtype="PCM_16")
            out.append(path)
    return out


def measure(ref, coded, out):
    """kbps of the coded file and the measures of out against ref."""
    x, rate = sf.read(ref, dtype="int16", always_2d=True)
    y = sf.read(out, dtype="int16", always_2d=True)[0]
    y = np.concatenate([y, np.zeros((max(0, len(x) - len(y)), y.shape[1]), y.dtype)])[:len(x)]
    return {"kbps": 8 * os.path.getsize(coded) / (len(x) / rate) / 1000, "snr": audioref.snr(x, y),
            "lsd": audioref.lsd(x, y, 16), "mel": audioref.mel_distance(x, y, 16, rate)}


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def walloc(ref, model, q):
    base = os.path.join(tmp, "w")
    run(WALLOC, "encode", "-q", "-f", "-m", model, "-Q", str(q), ref, "-o", base + ".wlc")
    run(WALLOC, "decode", "-q", "-f", base + ".wlc", "-o", base + ".wav")
    return measure(ref, base + ".wlc", base + ".wav")


def opus(ref, kbps):
    base = os.path.join(tmp, "o")
    rate = sf.info(ref).samplerate
    run("opusenc", "--quiet", "--bitrate", str(kbps), ref, base + ".opus")
    run("opusdec", "--quiet", "--rate", str(rate), "--no-dither", base + ".opus", base + ".wav")
    return measure(ref, base + ".opus", base + ".wav")


def curve(files, point, settings):
    """Per setting, the mean over files of each of point's values."""
    rows = []
    for s in settings:
        ms = [point(f, s) for f in files]
        rows.append({k: float(np.mean([m[k] for m in ms])) for k in ms[0]})
    return rows


def main():
    plot = sys.argv[sys.argv.index("--plot") + 1] if "--plot" in sys.argv else None
    sets = []
    for name, files, model in (("music", music(), "stereo"), ("speech", speech(), "mono")):
        if not files:
            print("(no %s files: run scripts/audio_corpus.sh)" % name)
            continue
        w = curve(files, lambda f, q: walloc(f, model, q), QUALITY)
        o = curve(files, opus, OPUS)
        sets.append((name, len(files), model, w, o))
        print("\n## %s: %d files, walloc -m %s -Q %s; opusenc --bitrate %s\n" % (
            name, len(files), model, ",".join(map(str, QUALITY)), ",".join(map(str, OPUS))))
        print("| codec | setting | kbps | SNR | LSD | mel |\n|---|---|---|---|---|---|")
        for tag, settings, rows in (("walloc", QUALITY, w), ("opus", OPUS, o)):
            for s, r in zip(settings, rows):
                print("| %s | %s | %.2f | %.2f | %.2f | %.2f |" % (tag, s, r["kbps"], r["snr"], r["lsd"], r["mel"]))
    if plot and sets:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        matplotlib.rcParams["svg.hashsalt"] = "walloc"  # the same SVG for the same numbers
        fig, axes = plt.subplots(len(sets), 3, figsize=(13, 4 * len(sets)), squeeze=False)
        for row, (name, n, model, w, o) in zip(axes, sets):
            for ax, (key, label) in zip(row, MEASURES):
                for tag, rows, style in (("walloc -m %s -Q" % model, w, "o-"), ("opus", o, "s--")):
                    ax.plot([r["kbps"] for r in rows], [r[key] for r in rows], style, label=tag, markersize=4)
                ax.set_xscale("log")
                ax.set_xlabel("kbps")
                ax.set_ylabel(label)
                ax.set_title("%s (%d held-out files)" % (name, n))
                ax.grid(True, which="both", alpha=0.3)
                ax.legend()
        fig.tight_layout()
        fig.savefig(plot, metadata={"Date": None})
        print("\nwrote %s" % plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Image benchmark (make bench): walloc against cwebp and cjpeg on the validation photos.

1. Rate/quality: mean bpp and PSNR (RGB, 8-bit peak) over corpus/val for walloc at several
   --keep values and for cwebp/cjpeg at several qualities.
2. Speed: whole-process encode/decode time on a 768x512 crop, median of RUNS (15) runs, the
   tools taking turns within each; walloc with -T1 and -T2, peers single-threaded (their default).
3. Entropy: the .wlc channel streams against zstd -19 on the raw int8 latent planes and
   cwebp -lossless -z 9 on the planes tiled as one grayscale image, on the very same latents."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from common import WALLOC, RUNS, tmp, sh, median_times, psnr, rgb, split_images, crop768x512


CODECS = {
    "walloc": lambda k: ([WALLOC, "encode", "-q", "-f", "--keep", str(k), "{in}", "-o", "{out}.wlc"],
                         [WALLOC, "decode", "-q", "-f", "{out}.wlc", "-o", "{out}.png"], ".wlc"),
    "cwebp": lambda q: (["cwebp", "-quiet", "-q", str(q), "{in}", "-o", "{out}.webp"],
                        ["dwebp", "-quiet", "{out}.webp", "-o", "{out}.png"], ".webp"),
    "cjpeg": lambda q: (["cjpeg", "-quality", str(q), "-outfile", "{out}.jpg", "{ppm}"],
                        ["djpeg", "-outfile", "{out}.png.ppm", "{out}.jpg"], ".jpg"),
}
POINTS = [("walloc", k) for k in (3, 6, 9, 12)] + [("cwebp", q) for q in (30, 50, 75, 90)] + \
         [("cjpeg", q) for q in (30, 50, 75, 90)]


def ppm(src):
    """The PPM copy of a PNG that cjpeg reads, made once in the scratch directory."""
    path = os.path.join(tmp, os.path.basename(src) + ".ppm")
    if not os.path.exists(path):
        Image.open(src).save(path)
    return path


def fill(cmd, src, out):
    return [ppm(src) if a == "{ppm}" else a.replace("{in}", src).replace("{out}", out)
            for a in cmd]


def run_point(codec, param, src, out):
    enc, dec, ext = CODECS[codec](param)
    sh(*fill(enc, src, out))
    sh(*fill(dec, src, out))
    dec_png = out + (".png.ppm" if codec == "cjpeg" else ".png")
    return os.path.getsize(out + ext), dec_png, enc, dec


def rate_quality(images):
    print("## Rate and quality on %d validation images (corpus/val)\n" % len(images))
    print("| codec | setting | mean bpp | mean PSNR (dB) |\n|---|---|---|---|")
    for codec, param in POINTS:
        bpp, q = [], []
        for i, src in enumerate(images):
            out = os.path.join(tmp, "rq%d" % i)
            size, dec_png, _, _ = run_point(codec, param, src, out)
            a = rgb(src)
            bpp.append(8.0 * size / (a.shape[0] * a.shape[1]))
            q.append(psnr(a, rgb(dec_png)))
        label = "--keep %d" % param if codec == "walloc" else "-q %d" % param
        print("| %s | %s | %.3f | %.2f |" % (codec, label, np.mean(bpp), np.mean(q)))


def speed(crop):
    print("\n## Whole-process time on a 768x512 crop (median of %d interleaved runs, ms)\n" % RUNS)
    print("| command | encode | decode |\n|---|---|---|")
    out = os.path.join(tmp, "speed")
    labels, cmds = [], []
    for label, codec, param, threads in (("walloc -T1", "walloc", 12, 1), ("walloc -T2", "walloc", 12, 2),
                                          ("cwebp -q 75", "cwebp", 75, 0), ("cjpeg -quality 75 (PPM in/out)", "cjpeg", 75, 0)):
        _, _, enc, dec = run_point(codec, param, crop, out + label[-2:])
        if threads:
            enc, dec = enc[:2] + ["-T%d" % threads] + enc[2:], dec[:2] + ["-T%d" % threads] + dec[2:]
        labels.append(label)
        cmds += [fill(enc, crop, out + label[-2:]), fill(dec, crop, out + label[-2:])]
    t = median_times(cmds)
    rows = {label: (t[2 * i], t[2 * i + 1]) for i, label in enumerate(labels)}
    for label in labels:
        print("| %s | %.1f | %.1f |" % (label, 1e3 * rows[label][0], 1e3 * rows[label][1]))
    webp, jpeg = rows["cwebp -q 75"][0], rows["cjpeg -quality 75 (PPM in/out)"][0]
    for label, note in (("walloc -T1", " (the default for an image this size)"), ("walloc -T2", "")):
        w = rows[label][0]
        print("\n%s encode%s: %.2fx the speed of cwebp -q 75 (both read PNG), %.2fx that of cjpeg (reads PPM), "
              "same run." % (label, note, webp / w, jpeg / w))


def entropy(images):
    print("\n## Latent entropy coding on the same planes (bytes, all validation images)\n")
    tot = {"walloc": 0, "zstd": 0, "cwebp": 0}
    modes = {}
    for i, src in enumerate(images):
        wlc, npy = os.path.join(tmp, "e%d.wlc" % i), os.path.join(tmp, "e%d.npy" % i)
        sh(WALLOC, "encode", "-q", "-f", src, "-o", wlc)
        sh(WALLOC, "latents", "-q", "-f", wlc, "-o", npy)
        info = json.loads(subprocess.run([WALLOC, "info", "--json", wlc], capture_output=True).stdout)
        tot["walloc"] += sum(s["bytes"] for s in info["streams"])
        for s in info["streams"]:
            modes[s["entropy"]] = modes.get(s["entropy"], 0) + 1
        q = np.load(npy)
        raw = os.path.join(tmp, "e%d.raw" % i)
        q.astype(np.int8).tofile(raw)
        sh("zstd", "-q", "-f", "-19", raw, "-o", raw + ".zst")
        tot["zstd"] += os.path.getsize(raw + ".zst")
        k, h, w = q.shape
        cols = int(np.ceil(np.sqrt(k)))
        rows = (k + cols - 1) // cols
        tile = np.full((rows * h, cols * w), 128, np.uint8)
        for c in range(k):
            tile[(c // cols) * h:(c // cols + 1) * h, (c % cols) * w:(c % cols + 1) * w] = (q[c].astype(int) + 128)
        Image.fromarray(tile, "L").save(raw + ".png")
        sh("cwebp", "-quiet", "-lossless", "-z", "9", raw + ".png", "-o", raw + ".webp")
        tot["cwebp"] += os.path.getsize(raw + ".webp")
    print("| coder | bytes | vs walloc |\n|---|---|---|")
    for name, label in (("walloc", "walloc rANS streams"), ("zstd", "zstd -19 (raw int8 planes)"),
                        ("cwebp", "cwebp -lossless -z 9 (tiled planes)")):
        print("| %s | %d | %+.1f%% |" % (label, tot[name], 100.0 * (tot[name] / tot["walloc"] - 1)))
    print("\nentropy modes chosen: %s" % ", ".join("%s %d" % kv for kv in sorted(modes.items())))


def main():
    images = split_images("corpus/val")
    if not images:
        print("bench: no images in corpus/val (run scripts/corpus.sh)", file=sys.stderr)
        return 1
    crop = crop768x512(images)
    print("machine: %s, %d cores; walloc threads as stated, peers single-threaded\n"
          % (os.uname().machine, os.cpu_count()))
    rate_quality(images)
    speed(crop)
    entropy(images)
    return 0


if __name__ == "__main__":
    sys.exit(main())

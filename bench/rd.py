#!/usr/bin/python3
"""Rate-distortion against peers (make bench): mean curves and Bjontegaard BD-rate.

For every PNG of a folder (default corpus/val2, photos never trained on), walloc at each rung
of its --quality ladder and the peers at their own quality sweeps (cwebp -q, single-threaded;
cjpeg -quality -optimize, cjxl -d and opj_compress -r when installed), each file decoded and
compared in RGB at 8 bits.
BD-rate (Bjontegaard 2001, cubic fit of log-rate against PSNR, integrated over the PSNR range
both curves cover within the stated bpp window) is computed per image and averaged; negative
means walloc needs fewer bits than the peer for the same PSNR.

  bench/rd.py [FOLDER] [--limit N] [--walloc "ARGS"] (extra encode arguments, e.g. "-m gray")
  --plot FILE.svg writes the mean curves as a figure (python3-matplotlib).
  bench/rd.py --grid [FOLDER] [--limit N] [--every N]: mean bpp and PSNR of --keep K --step S over a grid,
  the measurement behind the ladder's choice of K/2 channels under the detail layer.
  bench/rd.py --ladders [FOLDER] [--walloc "ARGS"]: per image, BD-rate of -Q's ladder (K/4 channels
  under steps up to 200, K/2 above) against K/2 channels under every step, both with 1 .. their
  channels alone below, the measurement behind the switch (codec/search/target.c)."""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from common import WALLOC, TOP, tmp, sh, psnr, rgb, split_images

WALLOC_Q = (4, 8, 12, 16, 20, 28, 36, 44, 52, 60, 68, 76, 80, 84, 88, 92)
PEERS = {
    "cwebp": ((10, 25, 40, 55, 70, 80, 90, 95, 98),
              lambda q, src, out: (["cwebp", "-quiet", "-q", str(q), src, "-o", out + ".webp"],
                                   ["dwebp", "-quiet", out + ".webp", "-o", out + ".png"], out + ".webp")),
    "cjxl": ((8.0, 4.0, 2.5, 1.6, 1.0, 0.6, 0.35, 0.2),
             lambda d, src, out: (["cjxl", "--quiet", "-e", "7", "-d", str(d), "--num_threads=0", src, out + ".jxl"],
                                  ["djxl", "--quiet", "--num_threads=0", out + ".jxl", out + ".png"], out + ".jxl")),
    # cjpeg reads PPM (peer_curve writes it); djpeg writes PPM, which PIL reads whatever the name
    "cjpeg": ((10, 25, 40, 55, 70, 80, 90, 95, 98),
              lambda q, src, out: (["cjpeg", "-quality", str(q), "-optimize", "-outfile", out + ".jpg", out + ".ppm"],
                                   ["djpeg", "-outfile", out + ".png", out + ".jpg"], out + ".jpg")),
    "opj_compress": ((200, 100, 60, 40, 25, 15, 10, 6),
                     lambda r, src, out: (["opj_compress", "-i", src, "-o", out + ".jp2", "-r", str(r)],
                                          ["opj_decompress", "-i", out + ".jp2", "-o", out + ".png"], out + ".jp2")),
}


def point(enc, dec, coded, src, out):
    sh(*enc)
    sh(*dec)
    a = rgb(src)  # PSNR capped at 99 dB: a lossless file (opj_compress -r 10 makes some) is not infinitely good
    return 8.0 * os.path.getsize(coded) / (a.shape[0] * a.shape[1]), min(99.0, psnr(a, rgb(out + ".png")))


def walloc_curve(src, out, extra):
    pts = []
    for q in WALLOC_Q:
        enc = [WALLOC, "encode", "-q", "-f", "-T1", "-Q", str(q)] + extra + [src, "-o", out + ".wlc"]
        pts.append(point(enc, [WALLOC, "decode", "-q", "-f", out + ".wlc", "-o", out + ".png"], out + ".wlc", src, out))
    return pts


def peer_curve(name, src, out):
    params, make = PEERS[name]
    if name == "cjpeg":
        Image.open(src).convert("RGB").save(out + ".ppm")
    return [point(*make(p, src, out), src, out) for p in params]


def bd_rate(ref, test, lo, hi):
    """Mean log-rate difference of test against ref (percent) over the PSNR range both reach
    with rates in [lo, hi] bpp; None when they do not overlap."""
    def fit(pts):
        pts = sorted(p for p in pts if lo <= p[0] <= hi)
        if len(pts) < 2:
            return None
        r, d = np.log([p[0] for p in pts]), np.array([p[1] for p in pts])
        return np.polyfit(d, r, min(3, len(pts) - 1)), d.min(), d.max()
    a, b = fit(ref), fit(test)
    if not a or not b:
        return None
    d0, d1 = max(a[1], b[1]), min(a[2], b[2])
    if d1 <= d0:
        return None
    ia, ib = np.polyint(a[0]), np.polyint(b[0])
    diff = (np.polyval(ib, d1) - np.polyval(ib, d0) - np.polyval(ia, d1) + np.polyval(ia, d0)) / (d1 - d0)
    return 100.0 * (np.exp(diff) - 1)


def grid(images):
    keeps, steps = (3, 6, 9, 12), (0, 160, 224, 288, 352, 416)
    print("## --keep K --step S on %d images: mean bpp / PSNR (dB)\n" % len(images))
    print("| K | " + " | ".join("S %d" % st for st in steps) + " |\n" + "|---" * (len(steps) + 1) + "|")
    for k in keeps:
        cells = []
        for st in steps:
            pts = []
            for i, src in enumerate(images):
                out = os.path.join(tmp, "g%d" % i)
                enc = [WALLOC, "encode", "-q", "-f", "-T1", "--keep", str(k), "--step", str(st), src, "-o", out + ".wlc"]
                pts.append(point(enc, [WALLOC, "decode", "-q", "-f", out + ".wlc", "-o", out + ".png"], out + ".wlc",
                                 src, out))
            cells.append("%.3f / %.2f" % (np.mean([p[0] for p in pts]), np.mean([p[1] for p in pts])))
        print("| %d | %s |" % (k, " | ".join(cells)))


LADDER_STEPS, SWITCH = (0, 1, 25, 49, 73, 97, 121, 145, 176, 200, 224, 248, 272, 296, 320), 200


def ladders(images, extra):
    fmt = lambda x: "%+.1f%%" % x  # noqa: E731
    windows, res = ((0.05, 0.3), (0.1, 0.5), (0.3, 1.0), (0.05, 1.0)), {}
    for i, src in enumerate(images):
        out = os.path.join(tmp, "l%d" % i)

        def code(k, st):
            enc = [WALLOC, "encode", "-q", "-f", "-T1", "--keep", str(k), "--step", str(st)] + extra
            dec = [WALLOC, "decode", "-q", "-f", out + ".wlc", "-o", out + ".png"]
            return point(enc + [src, "-o", out + ".wlc"], dec, out + ".wlc", src, out)
        if not i:
            sh(WALLOC, "encode", "-q", "-f", *extra, src, "-o", out + ".wlc")
            info = subprocess.run([WALLOC, "info", "--json", out + ".wlc"], check=True, capture_output=True).stdout
            quarter, half = max(1, json.loads(info)["K"] // 4), max(1, json.loads(info)["K"] // 2)
        alone = [code(k, 0) for k in range(1, half + 1)]
        on = {k: {st: code(k, st) for st in LADDER_STEPS[1:]} for k in (quarter, half)}
        base = alone + list(on[half].values())
        new = alone[:quarter] + [p for st, p in on[quarter].items() if st <= SWITCH] + \
            [p for st, p in on[half].items() if st > SWITCH]
        for w in windows:
            res.setdefault(w, []).append(bd_rate(base, new, *w))
    print("## -Q's ladder (%d channels to step %d, then %d) against %d channels throughout, on %d images: "
          "BD-rate per image (negative: fewer bits for the same PSNR)\n" % (quarter, SWITCH, half, half, len(images)))
    print("| bpp window | mean | median | worst | images |\n|---|---|---|---|---|")
    for w, xs in res.items():
        xs = [x for x in xs if x is not None]
        print("| %.2f-%.2f | %s | %s | %s | %d |" % (*w, fmt(np.mean(xs)), fmt(np.median(xs)), fmt(max(xs)), len(xs)))


def plot(mean, title, path):
    """The mean curves, bpp (log) against PSNR, one line per codec, as SVG."""
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, pts in mean.items():
        pts = sorted(p for p in pts if p[1] < 99)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if name == "walloc" else ".--", label=name,
                linewidth=2 if name == "walloc" else 1)
    ax.set_xscale("log")
    ax.set_xlim(0.05, 4)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB, RGB, 8-bit peak)")
    ax.set_title("mean rate-distortion: " + title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", default="corpus/val2")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--every", type=int, default=1, help="every N-th image of the sorted folder")
    ap.add_argument("--walloc", default="")
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--ladders", action="store_true")
    ap.add_argument("--save", help="write every image's points to this JSON file")
    ap.add_argument("--load", help="tables from a --save file instead of coding")
    ap.add_argument("--plot", help="write the mean curves as an SVG figure (python3-matplotlib)")
    args = ap.parse_args()
    images = split_images(args.folder)[::args.every][: args.limit or None]
    if not images:
        print("bench: no images in %s (run scripts/corpus.sh)" % args.folder, file=sys.stderr)
        return 1
    if args.grid:
        grid(images)
        return 0
    if args.ladders:
        ladders(images, args.walloc.split())
        return 0
    if args.load:
        curves = json.load(open(args.load))
        peers = [p for p in curves if p != "walloc"]
        images = curves["walloc"]
    else:
        peers = [p for p in PEERS if shutil.which(p)]
        curves = {name: [] for name in ["walloc"] + peers}
        for i, src in enumerate(images):
            out = os.path.join(tmp, "rd%d" % i)
            curves["walloc"].append(walloc_curve(src, out, args.walloc.split()))
            for p in peers:
                curves[p].append(peer_curve(p, src, out))
    if args.save:
        json.dump(curves, open(args.save, "w"))
    print("## Rate-distortion on %d images of %s (RGB PSNR, 8-bit peak; walloc -T1 %s)\n"
          % (len(images), os.path.relpath(os.path.join(TOP, args.folder), TOP), args.walloc))
    print("| codec | setting | mean bpp | mean PSNR (dB) |\n|---|---|---|---|")
    for name, c in curves.items():
        params = WALLOC_Q if name == "walloc" else PEERS[name][0]
        for j, p in enumerate(params):
            label = {"walloc": "-Q %s", "cwebp": "-q %s", "cjpeg": "-quality %s", "cjxl": "-d %s",
                     "opj_compress": "-r %s"}[name] % p
            print("| %s | %s | %.3f | %.2f |" % (name, label, np.mean([im[j][0] for im in c]),
                                                 np.mean([im[j][1] for im in c])))
    mean = {name: [tuple(np.mean([im[j] for im in c], axis=0)) for j in range(len(c[0]))] for name, c in curves.items()}
    if args.plot:
        plot(mean, "%s, %d images" % (args.folder, len(images)), args.plot)
    fmt = lambda x: "n/a" if x is None else "%+.1f%%" % x  # noqa: E731
    print("\nBD-rate of walloc against each peer (negative: walloc needs fewer bits for the same PSNR), "
          "the mean of the images' own (those whose curves overlap in the window), and of the mean curves:\n")
    print("| peer | 0.1-1.0 bpp: per image | images | mean curves | 1.0-2.0 bpp: per image | images | mean curves |")
    print("|---|---|---|---|---|---|---|")
    for p in peers:
        cols = []
        for lo, hi in ((0.1, 1.0), (1.0, 2.0)):
            v = [bd_rate(curves[p][i], curves["walloc"][i], lo, hi) for i in range(len(images))]
            v = [x for x in v if x is not None]
            cols += [fmt(np.mean(v) if v else None), str(len(v)), fmt(bd_rate(mean[p], mean["walloc"], lo, hi))]
        print("| %s | %s |" % (p, " | ".join(cols)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

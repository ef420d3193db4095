#!/usr/bin/python3
"""make bench: the image targets of issue 17 on the photos of corpus/val2 (no model was trained
on them), with the built-in rgb model and threads by default.

For every photo: a plain encode (the default settings), --bpp 0.1 0.25 0.5 1.0, --psnr 30 35 40
and --size at 0.4 bits a pixel, and for each target the encode of the settings it chose (-v -v:
--keep, --step, --dead-zone), which must write the same bytes; each timed as a whole process,
RUNS rounds (default 3) that run every command once in a shuffled order, the median kept.
Printed per target: how many files land where the issue asks (--bpp within 3% of X, --psnr at
least D and within 0.25 dB of it, --size not over N), the worst miss, the target's time over
the plain encode's of the same photo and over the encode of its own settings (the search's
cost; median and largest over the photos), and in ms (median). TARGETS_EVERY=N takes every Nth
photo.

    bench/targets.py [FOLDER]      (default corpus/val2)"""
import os
import random
import re
import statistics
import subprocess
import sys
import time

from common import TOP, WALLOC, psnr, rgb, split_images, tmp

RUNS = int(os.environ.get("RUNS", "3"))
TARGETS = [("--bpp", x) for x in ("0.1", "0.25", "0.5", "1.0")] + [("--psnr", d) for d in ("30", "35", "40")]
SIZE_BPP = 0.4


def timed(cmds):
    """The median whole-process time of each command over RUNS shuffled rounds."""
    ts = {c: [] for c in cmds}
    for _ in range(RUNS):
        for c in random.sample(cmds, len(cmds)):
            t = time.perf_counter()
            subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ts[c].append(time.perf_counter() - t)
    return {c: statistics.median(t) for c, t in ts.items()}


def settings(src, fl, out):
    """The flags of the settings that target fl chose for src (walloc encode -v -v)."""
    err = subprocess.run((WALLOC, "encode", "-v", "-v", "-f", *fl, src, "-o", out), check=True,
                         stderr=subprocess.PIPE, text=True).stderr
    keep, step, zone, masks = re.search(r"(\d+) channel\(s\), detail step (\d+), dead zone (\S+), tile masks (\d+)",
                                        err).groups()
    return ("--keep", keep) + (("--step", step) if step != "0" else ()) + \
        (("--dead-zone", zone) if float(zone) else ()) + (("--tile-masks", masks) if masks != "0" else ())


def measure(src):
    """{target: (time over plain, time over its settings' encode, bpp, PSNR, bytes, seconds)} for
    one photo, the size limit used and the plain encode's seconds."""
    a = rgb(src)
    pixels = a.shape[0] * a.shape[1]
    size = int(SIZE_BPP * pixels / 8)
    flags = [(), ("--size", str(size))] + [(f, v) for f, v in TARGETS]
    out = {fl: os.path.join(tmp, "t%d.wlc" % i) for i, fl in enumerate(flags)}
    cmds = {fl: (WALLOC, "encode", "-q", "-f", *fl, src, "-o", out[fl]) for fl in flags}
    fixed = {fl: (WALLOC, "encode", "-q", "-f", *settings(src, fl, out[fl]), src, "-o", out[fl] + ".fixed.wlc")
             for fl in flags[1:]}
    t = timed(list(cmds.values()) + list(fixed.values()))
    res = {}
    for fl in flags[1:]:
        with open(out[fl], "rb") as f, open(out[fl] + ".fixed.wlc", "rb") as g:
            if f.read() != g.read():
                sys.exit("bench/targets.py: %s %s: its settings (%s) write another file" %
                         (src, " ".join(fl), " ".join(fixed[fl][4:-3])))
        png = out[fl][:-4] + ".png"
        subprocess.run((WALLOC, "decode", "-q", "-f", out[fl], "-o", png), check=True)
        n = os.path.getsize(out[fl])
        res[fl] = (t[cmds[fl]] / t[cmds[()]], t[cmds[fl]] / t[fixed[fl]], 8.0 * n / pixels, psnr(a, rgb(png)), n,
                   t[cmds[fl]])
    return res, size, t[cmds[()]]


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "corpus/val2"
    images = split_images(folder)[:: int(os.environ.get("TARGETS_EVERY", "1"))]
    if not images:
        sys.exit("bench/targets.py: no PNGs in %s (scripts/corpus.sh makes them)" % os.path.join(TOP, folder))
    rows, plain = {}, []
    for src in images:
        res, size, secs = measure(src)
        plain.append(secs)
        for fl, (ratio, own, bpp, q, n, tt) in res.items():
            if fl[0] == "--bpp":
                miss = abs(bpp / float(fl[1]) - 1)
                ok = miss <= 0.03
                shown = "%+.1f%%" % (100 * (bpp / float(fl[1]) - 1))
            elif fl[0] == "--psnr":
                miss = q - float(fl[1])
                ok = 0 <= miss <= 0.25
                shown = "%+.2f dB" % miss
            else:
                miss = n / size - 1
                ok = n <= size
                shown = "%+.1f%%" % (100 * miss)
            key = ("--size",) if fl[0] == "--size" else fl  # its N is the photo's own
            rows.setdefault(key, []).append((ratio, ok, abs(miss), shown, os.path.basename(src), tt, own))
    print("## Targets on %d photos of %s (rgb, threads by default, medians of %d)\n" % (len(images), folder, RUNS))
    print("A plain encode takes %.0f ms at the median over the photos; a ratio moves with it.\n"
          % (1e3 * statistics.median(plain)))
    print("| target | where the issue asks | worst | time / plain encode: median | largest "
          "| time / its settings' encode: median | largest | time: median |")
    print("|---|---|---|---|---|---|---|---|")
    for fl, r in rows.items():
        worst = max(r, key=lambda x: x[2])
        slowest = max(r, key=lambda x: x[6])
        name = "--size (%.1f bpp)" % SIZE_BPP if fl[0] == "--size" else " ".join(fl)
        print("| %s | %d / %d | %s (%s) | %.2f | %.2f (%s) | %.2f | %.2f (%s) | %.0f ms |" % (
            name, sum(x[1] for x in r), len(r), worst[3], worst[4], statistics.median(x[0] for x in r),
            max(x[0] for x in r), max(r)[4], statistics.median(x[6] for x in r), slowest[6], slowest[4],
            1e3 * statistics.median(x[5] for x in r)))


if __name__ == "__main__":
    main()

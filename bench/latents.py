"""make bench: reading latents for a learner (issue 19): 200 files of 768x512 (crops, overlapping,
of the photos in corpus/val2, corpus/val3/rgb and corpus/val, none trained on), encoded with
the built-in rgb model, plain and with --fast-read, read back
through the Python package (walloc.read_latents) on one thread from bytes in memory; median over
rounds of the time per file, beside one `walloc latents` process per file."""
import glob
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from common import TOP, WALLOC, tmp

sys.path.insert(0, os.path.join(TOP, "python"))
os.environ["OMP_NUM_THREADS"] = "1"
import walloc  # noqa: E402 (after the thread count, which libgomp reads when it loads)

FILES, ROUNDS = 200, 5


def crops():
    """Up to FILES 768x512 crops, as PNGs under tmp."""
    paths = []
    for src in sorted(glob.glob(os.path.join(TOP, "corpus/val2/*.png"))) + \
            sorted(glob.glob(os.path.join(TOP, "corpus/val3/rgb/*.png"))) + \
            sorted(glob.glob(os.path.join(TOP, "corpus/val/*.png"))):
        im = np.asarray(Image.open(src).convert("RGB"))
        for y in range(0, im.shape[0] - 511, 128):  # overlapping crops, each its own file
            for x in range(0, im.shape[1] - 767, 192):
                if len(paths) == FILES:
                    return paths
                paths.append(os.path.join(tmp, "lat%03d.png" % len(paths)))
                Image.fromarray(im[y:y + 512, x:x + 768]).save(paths[-1], compress_level=1)
    return paths


def main():
    pngs = crops()
    sets = {}
    for name, flags in (("plain", []), ("--fast-read", ["--fast-read"])):
        out = os.path.join(tmp, "latents" + "".join(flags))
        subprocess.run([WALLOC, "encode", "-q", "-f", *flags, "-O", out] + pngs, check=True)
        sets[name] = sorted(glob.glob(os.path.join(out, "*.wlc")))
    model = walloc.Model("rgb")
    data = {name: [open(f, "rb").read() for f in wlcs] for name, wlcs in sets.items()}
    per = {name: [] for name in sets}
    for _ in range(ROUNDS):  # the two sets in turn, so that a slow spell of the machine falls on both
        for name, files in data.items():
            t0 = time.perf_counter()
            for b in files:
                walloc.read_latents(b, model)
            per[name].append((time.perf_counter() - t0) / len(files))
    t0 = time.perf_counter()
    for f in sets["plain"][:40]:
        subprocess.run([WALLOC, "latents", "-q", "-f", "-T1", f, "-o", os.path.join(tmp, "l.npy")], check=True)
    cli = (time.perf_counter() - t0) / 40
    print("\nLatents of %d files of 768x512 (rgb), read from memory, one thread (%s)" % (len(pngs), WALLOC))
    for name, files in data.items():
        kb = statistics.mean(len(b) for b in files) / 1024
        print("  %-12s walloc.read_latents: %.2f ms per file (median of %d rounds; rounds %s), mean %.2f KB" %
              (name, 1e3 * statistics.median(per[name]), ROUNDS, " ".join("%.2f" % (1e3 * t) for t in per[name]), kb))
    print("  walloc latents (plain), one process per file: %.2f ms per file" % (1e3 * cli))


if __name__ == "__main__":
    main()

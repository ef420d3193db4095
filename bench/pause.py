#!/usr/bin/python3
"""make bench: one command after a pause, as a user runs it, beside cwebp and dwebp.

The other benchmarks run commands back to back, so each finds the memory its predecessor just
freed. After a pause a guest VM may have handed that memory back to its host (virtio-balloon
free page reporting), and a process then pays for every fresh page; on the project's VM a
2 MiB huge page paid 20 times what 4 KiB pages did (codec/models/README.md, session 25). Here
every command runs after PAUSE seconds (default 4) of idle, in a shuffled order each round,
RUNS_PAUSE rounds (default 5), on the 768x512 crop of image.py and on the largest photo of
corpus/val2: walloc encode (its default), -Q 75 and --bpp 0.5, walloc decode of the -Q 75 file
(threads by default), cwebp -q 75 and dwebp of its file. Printed: the median wall time."""
import os
import random
import statistics
import time

from PIL import Image

from common import WALLOC, tmp, sh, split_images, crop768x512

PAUSE = float(os.environ.get("PAUSE", "4"))
ROUNDS = int(os.environ.get("RUNS_PAUSE", "5"))


def commands(png, tag):
    """(name, command) for one image; the files that decoding reads made first."""
    out = os.path.join(tmp, "pause-" + tag)
    sh(WALLOC, "encode", "-q", "-f", "-Q", "75", png, "-o", out + ".wlc")
    sh("cwebp", "-quiet", "-q", "75", png, "-o", out + ".webp")
    return [("walloc encode", [WALLOC, "encode", "-q", "-f", png, "-o", out + "-e.wlc"]),
            ("walloc encode -Q 75", [WALLOC, "encode", "-q", "-f", "-Q", "75", png, "-o", out + "-q.wlc"]),
            ("walloc encode --bpp 0.5", [WALLOC, "encode", "-q", "-f", "--bpp", "0.5", png, "-o", out + "-b.wlc"]),
            ("cwebp -q 75", ["cwebp", "-quiet", "-q", "75", png, "-o", out + "-e.webp"]),
            ("walloc decode (-Q 75 file)", [WALLOC, "decode", "-q", "-f", out + ".wlc", "-o", out + "-d.png"]),
            ("dwebp (to PNG)", ["dwebp", "-quiet", out + ".webp", "-o", out + "-w.png"])]


def main():
    photos = split_images("corpus/val2")
    if not photos:
        print("bench/pause.py: no PNGs in corpus/val2 (scripts/corpus.sh makes them)")
        return
    largest = max(photos, key=lambda p: Image.open(p).size[0] * Image.open(p).size[1])
    images = [("768x512 crop", crop768x512(split_images())), (os.path.basename(largest), largest)]
    runs = [(label, name, cmd) for label, png in images for name, cmd in commands(png, label[:3])]
    times = {(label, name): [] for label, name, _ in runs}
    for _ in range(ROUNDS):
        for label, name, cmd in random.sample(runs, len(runs)):
            time.sleep(PAUSE)
            t = time.perf_counter()
            sh(*cmd)
            times[(label, name)].append(time.perf_counter() - t)
    print("\n## One command after %.0f s idle (medians of %d, threads by default)\n" % (PAUSE, ROUNDS))
    print("| image | command | time (ms) |\n|---|---|---|")
    for label, name, _ in runs:
        print("| %s | %s | %.0f |" % (label, name, 1e3 * statistics.median(times[(label, name)])))


if __name__ == "__main__":
    main()

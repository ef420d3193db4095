"""make bench: -T1 against -T2 on an idle machine and with two busy processes beside walloc
(started and stopped here): median wall and CPU time (user + system) of encode and decode of
the 768x512 speed crop and of a 10-minute stereo clip. The issue's bar: under load, -T2 takes
at most 1.1x the wall time and 1.2x the CPU time of -T1. Then a batch: 16 photos of corpus/val2
encoded (and their files decoded) with the defaults, a worker per core, against -j 1 -T 1, idle
(the issue's bar: 1.7x faster)."""
import glob
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import soundfile as sf
from PIL import Image

from common import TOP, WALLOC, RUNS, tmp, split_images, crop768x512


def clip(path, minutes=10, rate=44100):
    """A stereo 16-bit clip of tones over noise, written once."""
    if not os.path.exists(path):
        t = np.arange(minutes * 60 * rate) / rate
        x = np.stack([0.2 * np.sin(2 * np.pi * f * t) + 0.02 * np.random.default_rng(c).standard_normal(len(t))
                      for c, f in enumerate((220.0, 330.0))], 1)
        sf.write(path, x, rate, subtype="PCM_16")
    return path


def timed(cmd):
    """Wall and CPU seconds of one run of cmd."""
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - t0, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime


def medians(cmds, runs):
    """Per command: the median wall and CPU time over runs rounds, the commands taking turns."""
    got = [[] for _ in cmds]
    for _ in range(runs):
        for cmd, g in zip(cmds, got):
            g.append(timed(cmd))
    return [(statistics.median(w for w, _ in g), statistics.median(c for _, c in g)) for g in got]


def busy(n):
    """n processes that keep a core busy each, as a batch or a build beside walloc would."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main():
    crop = crop768x512(split_images())
    song = clip(os.path.join(tmp, "ten-minutes.wav"))
    cases = []
    for name, src in (("768x512 image", crop), ("10-minute audio", song)):
        enc = os.path.join(tmp, os.path.basename(src) + ".wlc")
        subprocess.run([WALLOC, "encode", "-q", "-f", src, "-o", enc], check=True)
        out = os.path.join(tmp, "out" + os.path.splitext(src)[1])
        cases += [(name + " encode", ["encode", "-q", "-f", src, "-o", enc + ".t"]),
                  (name + " decode", ["decode", "-q", "-f", enc, "-o", out])]
    runs = max(3, RUNS // 3)  # a 10-minute clip takes seconds a run
    print("\nThreads: median wall / CPU seconds of %d runs, -T1 against -T2 (%s)" % (runs, WALLOC))
    print("%-24s %-6s %14s %14s %10s %10s" % ("case", "load", "-T1 wall/cpu", "-T2 wall/cpu", "wall x", "cpu x"))
    for load in (0, 2):
        others = busy(load)
        try:
            for name, args in cases:
                (w1, c1), (w2, c2) = medians([[WALLOC, args[0], "-T1"] + args[1:],
                                              [WALLOC, args[0], "-T2"] + args[1:]], runs)
                print("%-24s %-6s %6.3f/%-7.3f %6.3f/%-7.3f %10.2f %10.2f" %
                      (name, "idle" if not load else "%d busy" % load, w1, c1, w2, c2, w2 / w1, c2 / c1))
        finally:
            for p in others:
                p.kill()
    batch(runs)


def batch(runs):
    """The 16-photo batch, default against -j 1 -T 1."""
    photos = sorted(glob.glob(os.path.join(TOP, "corpus/val2/*.png")))[:16]
    out = os.path.join(tmp, "batch")
    print("\nBatch of %d photos (%.1f Mpixel in all), idle: median wall / CPU seconds of %d runs"
          % (len(photos), sum(np.prod(Image.open(p).size) for p in photos) / 1e6, runs))
    wlcs = [os.path.join(out, os.path.basename(p)[:-4] + ".wlc") for p in photos]
    for name, args in (("encode", ["encode", "-q", "-f", "-O", out] + photos),
                       ("decode", ["decode", "-q", "-f", "-O", out + "-decoded"] + wlcs)):
        (wd, cd), (w1, c1) = medians([[WALLOC] + args, [WALLOC, args[0], "-j", "1", "-T", "1"] + args[1:]], runs)
        print("  %s: default %.3f/%.3f, -j 1 -T 1 %.3f/%.3f: %.2fx" % (name, wd, cd, w1, c1, w1 / wd))

if __name__ == "__main__":
    main()

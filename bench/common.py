"""Helpers shared by the benchmarks of make bench (image.py, neural.py): running and timing
commands, PSNR, reading PNGs, the validation sets and the 768x512 speed crop."""
import atexit
import glob
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import numpy as np
from PIL import Image

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WALLOC = os.environ.get("WALLOC", os.path.join(TOP, "walloc"))  # another build: WALLOC=path
RUNS = int(os.environ.get("RUNS", "15"))
tmp = tempfile.mkdtemp(prefix="walloc-bench-")
atexit.register(shutil.rmtree, tmp, True)  # the crops and outputs go with the run


def sh(*cmd, stdout=None):
    subprocess.run(cmd, check=True, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def median_time(*cmd):
    return median_times([cmd])[0]


def median_times(cmds):
    """The median whole-process time of each command over RUNS rounds, each round running every
    command once in turn, so that a slow spell of the machine falls on all of them alike."""
    ts = [[] for _ in cmds]
    for _ in range(RUNS):
        for cmd, t_cmd in zip(cmds, ts):
            t = time.perf_counter()
            sh(*cmd)
            t_cmd.append(time.perf_counter() - t)
    return [statistics.median(t) for t in ts]


def psnr(a, b):
    mse = np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")


def rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


def gray_copy(src):
    """A BT.601 luma PNG of an RGB PNG, rounded as `walloc train --channels 1` does, made once
    in the scratch directory."""
    path = os.path.join(tmp, os.path.basename(src)[:-4] + ".gray.png")
    if not os.path.exists(path):
        r, g, b = np.moveaxis(rgb(src).astype(np.float32), 2, 0)
        Image.fromarray((0.299 * r + 0.587 * g + 0.114 * b + 0.5).astype(np.uint8), "L").save(path)
    return path


def split_images(split="corpus/val"):
    return sorted(glob.glob(os.path.join(TOP, split, "*.png")))


def crop768x512(imgs):
    """The central 768x512 crop of the widest image: the input of every speed measurement."""
    path = os.path.join(tmp, "crop768x512.png")
    if not os.path.exists(path):
        im = Image.open(max(imgs, key=lambda p: Image.open(p).size[0]))
        x0, y0 = (im.size[0] - 768) // 2, (im.size[1] - 512) // 2
        im.crop((x0, y0, x0 + 768, y0 + 512)).save(path)
    return path

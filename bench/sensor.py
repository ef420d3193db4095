#!/usr/bin/python3
"""make bench: an 8-channel 16-bit sensor model (issue 17): trained by `walloc train --linear`
on arrays made from the training photos, measured through --quality on arrays made the same way
from the photos of corpus/val2, which no model was trained on.

The arrays stand in for a multispectral camera (Debian packages no such data): 8 bands whose
responses are Gaussians at 430 .. 680 nm, each a fixed mix of the photo's linear R, G, B
(sRGB decoded), an exposure that sends the brightest 0.5% of each array to 65535 (clipped) and
photon noise of a sensor with a full well of 20000 electrons, rounded to uint16; (8, 256, 256)
crops, every 4th training photo (61 crops) for training, one centred crop of each val2 photo
(44) held out.

Printed per -Q: mean bits per sample position (as `walloc eval` reports for .npy: bits over H W),
mean and lowest PSNR with peak 65535 over all 8 bands, and the lowest value that any of the
input's 65535s (the clipped highlights; no input is 0) decodes to: at low quality a highlight
beside a dark edge is blurred into it, and from -Q 90 up it stays within 1% of the end."""
import glob
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from common import TOP, WALLOC, tmp

BANDS = np.linspace(430.0, 680.0, 8)
PEAKS = {"B": 450.0, "G": 545.0, "R": 600.0}  # rough centres of an sRGB camera's channels
QUALITIES = (0, 20, 50, 75, 90, 95, 100)


def mix():
    """(8, 3): each band's share of linear R, G, B, by the overlap of Gaussian responses (sigma
    40 nm band, 50 nm channel), each row summing to 1."""
    w = np.array([[np.exp(-(b - PEAKS[c]) ** 2 / (2 * (40.0 ** 2 + 50.0 ** 2))) for c in "RGB"] for b in BANDS])
    return w / w.sum(1, keepdims=True)


def sensor(png, seed, size=256):
    """One (8, size, size) uint16 array from the centre of a photo."""
    im = np.asarray(Image.open(png).convert("RGB"), np.float64) / 255.0
    h, w = im.shape[:2]
    if min(h, w) < size:
        return None
    y, x = (h - size) // 2, (w - size) // 2
    lin = np.where(im <= 0.04045, im / 12.92, ((im + 0.055) / 1.055) ** 2.4)[y:y + size, x:x + size]
    bands = np.einsum("bc,hwc->bhw", mix(), lin)
    electrons = bands / np.quantile(bands, 0.995) * 20000.0
    noisy = np.random.default_rng(seed).poisson(np.maximum(electrons, 0)).astype(np.float64)
    return np.clip(np.round(noisy / 20000.0 * 65535.0), 0, 65535).astype(np.uint16)


def arrays(pngs, folder):
    os.makedirs(folder, exist_ok=True)
    out = []
    for i, png in enumerate(pngs):
        a = sensor(png, i)
        if a is not None:
            out.append(os.path.join(folder, "%03d.npy" % i))
            np.save(out[-1], a)
    return out


def run(*args):
    subprocess.run([WALLOC, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    train = arrays(sorted(glob.glob(os.path.join(TOP, "corpus/train/*.png")))[::4], os.path.join(tmp, "sensor-train"))
    val = arrays(sorted(glob.glob(os.path.join(TOP, "corpus/val2/*.png"))), os.path.join(tmp, "sensor-val"))
    model = os.path.join(tmp, "sensor8.wlm")
    cmd = ["train", "--linear", "--channels", "8", "-K", "32", "--bits", "8", "-o", model, os.path.join(tmp, "sensor-train")]
    run(*cmd)
    print("\nSensor arrays, 8 bands x 256 x 256 uint16: `walloc %s` on %d training arrays, %d held out"
          % (" ".join(cmd[:-3] + ["-o", "sensor8.wlm", "DIR"]), len(train), len(val)))
    print("| -Q | bits per position | PSNR (peak 65535) | lowest PSNR | lowest decode of a 65535 |\n|---|---|---|---|---|")
    for q in QUALITIES:
        bits, psnrs, worst = [], [], 65535.0
        for src in val:
            wlc, dec = os.path.join(tmp, "s.wlc"), os.path.join(tmp, "s.npy")
            run("encode", "-q", "-f", "-m", model, "-Q", str(q), src, "-o", wlc)
            run("decode", "-q", "-f", "-m", model, wlc, "-o", dec)
            a, b = np.load(src).astype(np.float64), np.load(dec).astype(np.float64)
            bits.append(8.0 * os.path.getsize(wlc) / (a.shape[1] * a.shape[2]))
            mse = np.mean((a - b) ** 2)
            psnrs.append(10 * np.log10(65535.0 ** 2 / mse) if mse else 99.0)
            top = b[a == 65535]
            worst = min(worst, top.min()) if top.size else worst
        print("| %d | %.3f | %.2f | %.2f | %d |" % (q, np.mean(bits), np.mean(psnrs), min(psnrs), worst))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Compressed-domain learning on Fashion-MNIST (Debian's dataset-fashion-mnist): the same small
classifier trained on walloc latents, on pixels box-resized to as many values, and on the full
pixels. Run from the source tree after `make`:  /usr/bin/python3 examples/fashion_mnist.py

1. A walloc model for 28x28 gray images: `walloc train --linear -J 2 -K 4 --channels 1` on the
   first 6000 training images, tiled 10 x 10 into 280x280 .npy mosaics (a PCA over 4x4 packet
   blocks, which tile a 28x28 image exactly: 16 bands per latent position, 7x7 positions).
2. Every image through the Python package: walloc.encode at keep 4 (196 latents: 4x fewer
   numbers than pixels) and keep 1 (49: 16x), then read_latents + dequantise: float32 (K, 7, 7).
3. One MLP (256 ReLU units, softmax, Adam, 10 epochs of batch 128, inputs standardised, seed 1)
   on (a) the dequantised latents, (b) pixels box-resized to 14x14 (196) and 7x7 (49), and
   (c) the 784 pixels. Prints test accuracy, seconds per epoch and bytes on disk (the .wlc
   files, or the inputs as uint8)."""
import gzip
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "python"))
import walloc  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
SEED, EPOCHS, BATCH, HIDDEN = 1, 10, 128, 256


def idx(name):
    raw = gzip.open(os.path.join(DATA, name)).read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def train_model(images, tmp):
    d = os.path.join(tmp, "mosaics")
    os.makedirs(d)
    for m in range(len(images) // 100):
        tile = images[100 * m:100 * (m + 1)].reshape(10, 10, 28, 28).transpose(0, 2, 1, 3).reshape(280, 280)
        np.save(os.path.join(d, "m%02d.npy" % m), tile[None])
    path = os.path.join(tmp, "fashion.wlm")
    subprocess.run([os.path.join(TOP, "walloc"), "train", "-q", "--linear", "--channels", "1", "-J", "2", "-K", "4",
                    "--name", "fashion", "-o", path, d], check=True)
    return walloc.Model(path)


def latents(images, model, keep):
    feats, size = np.empty((len(images), keep * 49), np.float32), 0
    for i, im in enumerate(images):
        data = walloc.encode(im, model, keep=keep)
        size += len(data)
        q, mask = walloc.read_latents(data, model)
        feats[i] = walloc.dequantise(q[mask], model)[:keep].ravel()
    return feats, size


def box(images, f):
    n = len(images)
    return images.reshape(n, 28 // f, f, 28 // f, f).mean((2, 4)).reshape(n, -1).astype(np.float32)


def mlp(xtr, ytr, xte, yte):
    """Test accuracy and seconds per epoch of the MLP (numpy, Adam, cross-entropy)."""
    rng = np.random.default_rng(SEED)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    n, d = xtr.shape
    params = [rng.normal(0, np.sqrt(2 / d), (d, HIDDEN)).astype(np.float32), np.zeros(HIDDEN, np.float32),
              rng.normal(0, np.sqrt(1 / HIDDEN), (HIDDEN, 10)).astype(np.float32), np.zeros(10, np.float32)]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    t, lr = 0, 1e-3
    start = time.perf_counter()
    for _ in range(EPOCHS):
        order = rng.permutation(n)
        for b in range(0, n, BATCH):
            x, y = xtr[order[b:b + BATCH]], ytr[order[b:b + BATCH]]
            h = np.maximum(x @ params[0] + params[1], 0)
            z = h @ params[2] + params[3]
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(y)), y] -= 1
            g3 = p / len(y)
            gh = (g3 @ params[2].T) * (h > 0)
            grads = [x.T @ gh, gh.sum(0), h.T @ g3, g3.sum(0)]
            t += 1
            for i, g in enumerate(grads):
                m1[i] = 0.9 * m1[i] + 0.1 * g
                m2[i] = 0.999 * m2[i] + 0.001 * g * g
                params[i] -= lr * (m1[i] / (1 - 0.9 ** t)) / (np.sqrt(m2[i] / (1 - 0.999 ** t)) + 1e-8)
    per_epoch = (time.perf_counter() - start) / EPOCHS
    pred = (np.maximum(xte @ params[0] + params[1], 0) @ params[2] + params[3]).argmax(1)
    return float((pred == yte).mean()), per_epoch


def main():
    xtr, ytr = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz").astype(int)
    xte, yte = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz").astype(int)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model = train_model(xtr[:6000], tmp)
        print("model: walloc train --linear -J 2 -K 4 on 6000 images, %.1f s" % (time.perf_counter() - t0))
    rows = []
    for keep in (4, 1):
        t0 = time.perf_counter()
        (ftr, btr), (fte, bte) = latents(xtr, model, keep), latents(xte, model, keep)
        enc = time.perf_counter() - t0
        acc, sec = mlp(ftr, ytr, fte, yte)
        rows.append(("walloc latents, keep %d (%dx fewer values)" % (keep, 784 // (keep * 49)), ftr.shape[1], acc, sec,
                     btr + bte, "%.1f s to encode and read all 70000" % enc))
    for f in (2, 4):
        acc, sec = mlp(box(xtr, f), ytr, box(xte, f), yte)
        rows.append(("pixels box-resized to %dx%d" % (28 // f, 28 // f), (28 // f) ** 2, acc, sec, 70000 * (28 // f) ** 2,
                     "stored as uint8"))
    acc, sec = mlp(xtr.reshape(60000, -1).astype(np.float32), ytr, xte.reshape(10000, -1).astype(np.float32), yte)
    rows.append(("full pixels", 784, acc, sec, 70000 * 784, "uint8"))
    print("\n| input | values | test accuracy | s/epoch | bytes on disk (train + test) | note |\n|---|---|---|---|---|---|")
    for name, vals, acc, sec, size, note in rows:
        print("| %s | %d | %.2f%% | %.2f | %d | %s |" % (name, vals, 100 * acc, sec, size, note))
    return 0


if __name__ == "__main__":
    sys.exit(main())

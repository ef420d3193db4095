#!/usr/bin/python3
"""An independent numpy/PyWavelets decoder: reads the .wlm model (safetensors) and the
latents from `walloc latents`, applies the inverse companding, the linear decoder and the
inverse packet transform with pywt.idwt2 node by node, and must agree with `walloc decode`
to within one grey level (float rounding) on nearly every sample."""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import pywt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import pngref  # noqa: E402
from harness import finish, report  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WALLOC = os.path.join(TOP, "walloc")


def load_model(path):
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    body = data[8 + n:]
    t = {k: np.frombuffer(body[v["data_offsets"][0]:v["data_offsets"][1]],
                          {"F32": "<f4", "U16": "<u2"}[v["dtype"]]).reshape(v["shape"]) for k, v in header.items()}
    return meta, t


def probit(p):
    z = -math.log(1.0 / p - 1.0) / 1.702
    for _ in range(60):
        z -= (0.5 * math.erfc(-z / math.sqrt(2)) - p) / (math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    return z


def dequantise(q, bits):
    L = 2 ** (bits - 1) - 0.5 - 1e-3
    s = (2 ** (bits - 1) - 1) / 1.85
    table = {v: s * probit(min(max(v / (2 * L) + 0.5, 1e-4), 1 - 1e-4)) for v in np.unique(q)}
    return np.vectorize(table.get)(q).astype(np.float64)


def inverse_packets(X, C, J):
    bands = list(X)  # C * 4^J arrays, natural order: children of band b are 4b .. 4b+3
    for _ in range(J):
        bands = [pywt.idwt2((bands[i], (bands[i + 1], bands[i + 2], bands[i + 3])), "bior4.4", mode="periodization")
                 for i in range(0, len(bands), 4)]
    return np.stack(bands)  # (C, Hp, Wp)


def reference_decode(model_path, npy, width, height, depth):
    meta, t = load_model(model_path)
    C, J, K, bits = (int(meta[k]) for k in ("channels", "J", "K", "bits"))
    q = np.load(npy)
    keep, h, w = q.shape
    y = np.empty((K, h, w))
    y[:keep] = dequantise(q, bits)
    y[keep:] = t["fill"][keep:, None, None]
    X = np.tensordot(t["decoder.weight"].astype(np.float64), y, axes=(1, 0)) + t["decoder.bias"][:, None, None]
    x = inverse_packets(X, C, J)[:, :height, :width]
    peak = 2 ** depth - 1
    return np.clip(np.rint((x + 0.5) * peak), 0, peak)


def check(name, png, model, *opts):
    tmp = tempfile.mkdtemp()
    wlc, out, npy = (os.path.join(tmp, f) for f in ("a.wlc", "a.png", "a.npy"))
    subprocess.run([WALLOC, "encode", "-m", model, *opts, png, "-o", wlc], check=True)
    subprocess.run([WALLOC, "decode", "-m", model, wlc, "-o", out], check=True)
    subprocess.run([WALLOC, "latents", "-m", model, wlc, "-o", npy], check=True)
    got, depth = pngref.read(out)
    C = 3 if got.shape[2] >= 3 else 1
    ref = reference_decode(model, npy, got.shape[1], got.shape[0], depth)
    diff = np.abs(ref - np.moveaxis(got[..., :C], 2, 0).astype(np.float64))
    ok = diff.max() <= 1 and np.mean(diff > 0) < (1e-3 if depth == 8 else 2e-2)  # float32 vs float64
    report("numpy reference decoder: " + name, ok,
           "max diff %g, %.4f%% differ" % (diff.max(), 100 * np.mean(diff > 0)))


models = os.path.join(TOP, "codec", "models")
images = os.path.join(TOP, "testdata", "images")
check("rgb model, 8-bit RGB", os.path.join(images, "garden-rgb8.png"), os.path.join(models, "rgb.wlm"))
check("rgb model, --keep 20 (fill values)", os.path.join(images, "garden-rgb8.png"), os.path.join(models, "rgb.wlm"),
      "--keep", "20")
check("gray model, odd size", os.path.join(images, "storm-gray8-odd.png"), os.path.join(models, "gray.wlm"))
check("rgb model, 16-bit", os.path.join(images, "storm-rgb16.png"), os.path.join(models, "rgb.wlm"))
sys.exit(finish())

#!/usr/bin/python3
"""An independent numpy/PyWavelets decoder: reads the .wlm model (safetensors) and the
latents from `walloc latents`, applies the inverse companding, the decoder network (linear
path, plus the residual convolution path of kind "neural") and the inverse packet transform
with pywt.idwt2 node by node, and must agree with `walloc decode` to within one grey level
(float rounding) on nearly every sample. test_reference_neural.py imports these helpers."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pywt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import pngref  # noqa: E402
from harness import IMAGES, TOP, scratch, WALLOC, finish, report  # noqa: E402


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
    """Phi^-1(p) for p in [1e-4, 1 - 1e-4] by bisection on Phi(z) = erfc(-z/sqrt 2)/2 (monotone,
    so it cannot diverge in the tails as Newton from a rough start does), to double precision."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if 0.5 * math.erfc(-mid / math.sqrt(2)) < p else (lo, mid)
    return 0.5 * (lo + hi)


def dequantise(q, bits):
    L = 2 ** (bits - 1) - 0.5 - 1e-3
    s = (2 ** (bits - 1) - 1) / 1.85
    table = {v: s * probit(min(max(v / (2 * L) + 0.5, 1e-4), 1 - 1e-4)) for v in np.unique(q)}
    return np.vectorize(table.get)(q).astype(np.float64)


def silu(x):
    return x * 0.5 * (1.0 + np.tanh(0.5 * x))  # x sigmoid(x), without exp overflow


def conv3x3(x, W, b):
    """'same' zero-padded kh x kw convolution (3x3 for images, 1x3 for 1-D models), PyTorch layout:
    x (Ci, h, w), W (Co, Ci, kh, kw), b (Co);
    out[o, i, j] = b[o] + sum_{c, dy, dx} W[o, c, dy, dx] x[c, i + dy - kh//2, j + dx - kw//2]."""
    _, h, w = x.shape
    kh, kw = W.shape[2:]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros((len(b), h, w)) + b[:, None, None]
    for dy in range(kh):
        for dx in range(kw):
            out += np.tensordot(W[:, :, dy, dx].astype(np.float64), xp[:, dy:dy + h, dx:dx + w], axes=(1, 0))
    return out


def decoder_forward(meta, t, y):
    """X (D, h, w) from the decoder input y (K, h, w), in float64; with a fine stage (metadata
    fine_N), the level J-1 packets (D/4, 2h, 2w) it outputs."""
    def affine(name, v, bias=True):
        out = np.tensordot(t[name + ".weight"].astype(np.float64), v, axes=(1, 0))
        return out + t[name + ".bias"][:, None, None] if bias else out

    def residual_net(prefix, v, R):
        """out.weight silu(h_R), h_0 = in(v), h_{r+1} = h_r + conv2(silu(conv1(silu(h_r))))."""
        h = affine(prefix + ".in", v)
        for r in range(R):
            c1, c2 = ("%s.%d.conv%d" % (prefix, r, i) for i in (1, 2))
            h = h + conv3x3(silu(conv3x3(silu(h), t[c1 + ".weight"], t[c1 + ".bias"])), t[c2 + ".weight"],
                            t[c2 + ".bias"])
        return affine(prefix + ".out", silu(h), bias=False)
    X = affine("decoder", y)
    if meta["kind"] == "neural":
        X = X + residual_net("residual", y, int(meta["R"]))
    if "fine_N" in meta:
        X = inverse_packets(X, len(X) // 4, 1)
        X = X + residual_net("fine", X, int(meta["fine_R"]))
    return X


def decoder_input(meta, t, q):
    """y (K, h, w): inverse companding of the sent latents q (keep, h, w), fill values for the rest."""
    K, bits = int(meta["K"]), int(meta["bits"])
    keep, h, w = q.shape
    y = np.empty((K, h, w))
    y[:keep] = dequantise(q, bits)
    y[keep:] = t["fill"][keep:, None, None]
    return y


def inverse_packets(X, C, J):
    """(C * 4^J, h, w) packets of J levels to (C, 2^J h, 2^J w)."""
    bands = list(X)  # C * 4^J arrays, natural order: children of band b are 4b .. 4b+3
    for _ in range(J):
        bands = [pywt.idwt2((bands[i], (bands[i + 1], bands[i + 2], bands[i + 3])), "bior4.4", mode="periodization")
                 for i in range(0, len(bands), 4)]
    return np.stack(bands)  # (C, Hp, Wp)


def reference_decode(model_path, npy, width, height, depth):
    meta, t = load_model(model_path)
    C, J = int(meta["channels"]), int(meta["J"])
    X = decoder_forward(meta, t, decoder_input(meta, t, np.load(npy)))
    x = inverse_packets(X, C, J - ("fine_N" in meta))[:, :height, :width]
    peak = 2 ** depth - 1
    return np.clip(np.rint((x + 0.5) * peak), 0, peak)


def check(name, png, model, *opts):
    tmp = scratch("walloc-reference-")
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


MODELS = os.path.join(TOP, "codec", "models")

if __name__ == "__main__":
    rgb, gray = os.path.join(MODELS, "rgb.wlm"), os.path.join(MODELS, "gray.wlm")
    check("rgb model, 8-bit RGB", os.path.join(IMAGES, "garden-rgb8.png"), rgb)
    check("rgb model, --keep 6 (fill values)", os.path.join(IMAGES, "garden-rgb8.png"), rgb, "--keep", "6")
    check("rgb-linear model, --keep 3", os.path.join(IMAGES, "garden-rgb8.png"), os.path.join(MODELS, "rgb-linear.wlm"),
          "--keep", "3")
    check("gray model, odd size", os.path.join(IMAGES, "storm-gray8-odd.png"), gray)
    check("rgb model, 16-bit", os.path.join(IMAGES, "storm-rgb16.png"), rgb)
    sys.exit(finish())

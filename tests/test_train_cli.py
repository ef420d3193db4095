#!/usr/bin/python3
"""walloc train (neural): a short run on the left part of a photo must raise the validation
PSNR on the held-out right part at every k; checkpoints resume where they stopped; the model
it writes encodes and decodes; bad settings are refused before any training."""
import os
import re
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import finish, test, run, wlm_header, IMAGES  # noqa: E402

GARDEN = os.path.join(IMAGES, "garden-rgb8.png")
TMP = tempfile.mkdtemp(prefix="walloc-train-")
LEFT, RIGHT = os.path.join(TMP, "left.png"), os.path.join(TMP, "right.png")
MODEL = os.path.join(TMP, "m.wlm")
SMALL = ["-J", "2", "-K", "6", "-N", "16", "-R", "1", "--crop", "64", "--batch", "8", "--warmup", "10",
         "--lr", "3e-3", "--val-every", "100", "--seed", "3"]


def val_lines(err):
    """{step: [PSNR at k = K/4, K/2, 3K/4, K]} from the progress lines (PSNR@bpp)."""
    out = {}
    for m in re.finditer(r"step (\d+)/\d+.*?val ([\d.@ ]+)", err):
        out[int(m.group(1))] = [float(v.split("@")[0]) for v in m.group(2).split()]
    return out


pixels = np.array(Image.open(GARDEN))
Image.fromarray(pixels[:, :160]).save(LEFT)
Image.fromarray(pixels[:, 160:]).save(RIGHT)
rc, _, err = run("train", "-o", MODEL, "--steps", "300", "--val", RIGHT, *SMALL, LEFT)


@test("train: 300 steps raise held-out PSNR at k = K/2, 3K/4, K (and keep k = K/4)")
def _():
    assert rc == 0, err
    v = val_lines(err)
    assert 0 in v and 300 in v, err
    gain = [b - a for a, b in zip(v[0], v[300])]
    assert min(gain[1:]) > 0.3 and gain[0] > -0.1, "PSNR change per k: %s" % gain


@test("train: the model encodes and decodes, PSNR rising with k")
def _():
    out = []
    for k in (1, 3, 6):
        wlc, png = os.path.join(TMP, "r%d.wlc" % k), os.path.join(TMP, "r%d.png" % k)
        assert run("encode", "-m", MODEL, "--keep", str(k), "-o", wlc, RIGHT)[0] == 0
        rc, _, e = run("decode", "-m", MODEL, "-o", png, wlc)
        assert rc == 0, e
        d = np.array(Image.open(png)).astype(float) - pixels[:, 160:]
        out.append(-10 * np.log10(np.mean(d ** 2) / 255.0 ** 2))
    assert out[0] < out[1] < out[2], out


@test("train: --resume continues from the checkpoint's step")
def _():
    ckpt = MODEL + ".ckpt"
    assert os.path.exists(ckpt)
    rc, _, e = run("train", "-v", "-f", "-o", MODEL, "--steps", "320", "--resume", ckpt, "--val", RIGHT, *SMALL, LEFT)
    assert rc == 0 and "starting at step 300" in e and "at step 320 of 320" in e, e


@test("train: bad settings and an existing output are refused before training")
def _():
    rc, _, e = run("train", "-o", MODEL, "--steps", "5", *SMALL, LEFT)
    assert rc == 1 and "already exists" in e, e
    other = os.path.join(TMP, "o.wlm")
    rc, _, e = run("train", "-o", other, "--steps", "5", *SMALL, "--crop", "62", LEFT)
    assert rc == 1 and "crop" in e and not os.path.exists(other), e
    rc, _, e = run("train", "-o", other, "--steps", "5", *SMALL, "-N", "8", "--resume", MODEL + ".ckpt", LEFT)
    assert rc == 1 and "cannot resume" in e and not os.path.exists(other), e
    rc, _, e = run("train", "-o", other, "--lr", "-1", LEFT)
    assert rc == 2 and "--lr" in e, e
    rc, _, e = run("train", "-o", other, "--full", "1", LEFT)
    assert rc == 2 and "--full" in e, e


@test("train: the settings are recorded in the model (--full, seed, learning rate, command)")
def _():
    m = wlm_header(MODEL)["__metadata__"]
    assert m["train_full"] == "0" and m["train_seed"] == "3" and m["train_lr"] == "0.003", m
    full = os.path.join(TMP, "full.wlm")
    rc, _, e = run("train", "-o", full, "--steps", "2", "--full", "0.5", *SMALL, LEFT)
    assert rc == 0, e
    m = wlm_header(full)["__metadata__"]
    assert m["train_full"] == "0.5" and "--full 0.5" in m["train_command"], m


sys.exit(finish())

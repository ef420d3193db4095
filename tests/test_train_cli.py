#!/usr/bin/python3
"""walloc train (neural): a short run on the left part of a photo must raise the validation
PSNR on the held-out right part at every k; checkpoints resume where they stopped; the model
it writes encodes and decodes; bad settings are refused before any training."""
import os
import subprocess
import re
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import default_signals, finish, test, scratch, run, wlm_header, IMAGES, WALLOC  # noqa: E402

GARDEN = os.path.join(IMAGES, "garden-rgb8.png")
TMP = scratch("walloc-train-")
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
    for bad, says in ((["--crop", "62"], "crop"), (["-J", "7"], "-J is at most 6"), (["-K", "300"], "wavelet bands"),
                      (["--linear", "-J", "6"], "the PCA takes at most 4096")):  # usage errors: exit 2
        rc, _, e = run("train", "-o", other, *(["--steps", "5"] if "--linear" not in bad else []), *bad, LEFT)
        assert rc == 2 and says in e and not os.path.exists(other), (bad, e)
    rc, _, e = run("train", "-o", other, "--steps", "5", *SMALL, "-N", "8", "--resume", MODEL + ".ckpt", LEFT)
    assert rc == 1 and "cannot resume" in e and not os.path.exists(other), e
    rc, _, e = run("train", "-o", other, "--steps", "5", *SMALL, "--resume", MODEL, LEFT)
    assert rc == 1 and "a model, not a checkpoint" in e and not os.path.exists(other), e
    rc, _, e = run("train", "-o", other, "--lr", "-1", LEFT)
    assert rc == 2 and "--lr" in e, e
    rc, _, e = run("train", "-o", other, "--full", "1", LEFT)
    assert rc == 2 and "--full" in e and "from 0 to 0.95" in e, e
    rc, _, e = run("train", "-o", other, "--lr", "0", LEFT)
    assert rc == 2 and "above 0, at most 1" in e, e
    tiny = os.path.join(TMP, "tiny.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tiny)
    rc, _, e = run("train", "-f", "-o", other, "--steps", "2", "--crop", "32", tiny, LEFT)
    assert rc == 0 and "1 of 2 images are smaller than --crop 32" in e, e


@test("train: with stderr not a terminal, a progress line by 10 s (then one a minute); SIGHUP saves the "
      "checkpoint and model, then ends by the signal; a resume with another --gain names it")
def _():
    import signal
    p = subprocess.Popen([WALLOC, "train", "--steps", "1000000", "--crop", "32", "-o", os.path.join(TMP, "sig.wlm"), GARDEN],
                         stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    first = p.stderr.readline()  # blocks until the first line: it must come from the loop, by 10 s
    p.send_signal(signal.SIGHUP)
    rest = p.stderr.read()
    assert p.wait() == -signal.SIGHUP and first.startswith("step ") and "steps/s" in first, (first, rest)
    assert "stopped early" in rest and os.path.getsize(os.path.join(TMP, "sig.wlm")) and os.path.getsize(os.path.join(TMP, "sig.wlm.ckpt")), rest
    rc, _, err = run("train", "--steps", "1000000", "--gain", "8", "--crop", "32", "--resume", os.path.join(TMP, "sig.wlm.ckpt"), "-f",
                     "-o", os.path.join(TMP, "sig.wlm"), GARDEN)
    assert rc == 1 and "--gain 8 here, 4 in the checkpoint" in err, err


@test("train: a run stopped (SIGINT) and resumed with only its shapes given takes the checkpoint's seed, "
      "batch, crop, steps, warm-up and learning rate, and ends as the run never stopped (the same decode)")
def _():
    import signal
    a, b = os.path.join(TMP, "whole.wlm"), os.path.join(TMP, "cut.wlm")
    args = ["--steps", "1500", *SMALL]
    rc, _, e = run("train", "-o", a, *args, LEFT)
    assert rc == 0, e
    p = subprocess.Popen([WALLOC, "train", "-o", b, "--val", RIGHT, *args, LEFT], stderr=subprocess.PIPE, text=True,
                         preexec_fn=default_signals)
    line = "-"
    while line and not line.startswith("step 100/"):  # validation lines: at step 0, 100, ... ("": it ended)
        line = p.stderr.readline()
    p.send_signal(signal.SIGINT)
    err = p.stderr.read()
    assert p.wait() == -signal.SIGINT and "stopped early" in err, err
    shapes = ["-J", "2", "-K", "6", "-N", "16", "-R", "1"]
    rc, _, e = run("train", "-v", "-f", "-o", b, *shapes, "--resume", b + ".ckpt", LEFT)
    assert rc == 0 and "at step 1500 of 1500" in e, e
    m = wlm_header(b)["__metadata__"]
    assert m["train_seed"] == "3" and m["train_batch"] == "8" and m["train_warmup"] == "10", m
    out = []
    for model in (a, b):
        wlc, png = model + ".wlc", model + ".png"
        assert run("encode", "-f", "-m", model, "-o", wlc, RIGHT)[0] == 0 and run("decode", "-f", "-m", model, "-o", png, wlc)[0] == 0
        out.append(open(png, "rb").read())
    assert out[0] == out[1], "the resumed run decodes otherwise"


@test("train: -o or --checkpoint naming a folder, or one file for both, is refused before training; --resume of "
      "a linear model says so")
def _():
    folder = os.path.join(TMP, "afolder")
    os.makedirs(folder)
    for args in (["-o", folder], ["-o", os.path.join(TMP, "x.wlm"), "--checkpoint", folder]):
        rc, _, e = run("train", "-f", *args, "--steps", "5", *SMALL, LEFT)
        assert rc == 1 and "is a folder" in e and os.listdir(folder) == [], (args, e)
    same = os.path.join(TMP, "same.wlm")
    rc, _, e = run("train", "-o", same, "--checkpoint", same, "--steps", "5", *SMALL, LEFT)
    assert rc == 2 and "checkpoint" in e and not os.path.exists(same), e
    lin = os.path.join(TMP, "lin.wlm")
    assert run("train", "--linear", "-J", "2", "-K", "6", "-o", lin, LEFT)[0] == 0
    rc, _, e = run("train", "-o", os.path.join(TMP, "y.wlm"), "--steps", "5", *SMALL, "--resume", lin, LEFT)
    assert rc == 1 and "a linear model, not a checkpoint" in e, e


@test("train: the settings are recorded in the model (--full, seed, learning rate, command)")
def _():
    m = wlm_header(MODEL)["__metadata__"]
    assert m["train_full"] == "0" and m["train_seed"] == "3" and m["train_lr"] == "0.003", m
    full = os.path.join(TMP, "full.wlm")
    rc, _, e = run("train", "-o", full, "--steps", "2", "--full", "0.5", *SMALL, LEFT)
    assert rc == 0, e
    m = wlm_header(full)["__metadata__"]
    assert m["train_full"] == "0.5" and "--full 0.5" in m["train_command"], m



@test("train: a gain that sends the first channel to the ends of the latent range is refused (linear and "
      "neural, 16-bit); an accepted one (32) keeps 0 and 65535 at the ends")
def _():
    rng = np.random.default_rng(2)
    os.makedirs(os.path.join(TMP, "s16"))
    for i in range(4):  # smooth 16-bit fields spanning the whole range
        x = np.cumsum(np.cumsum(rng.normal(0, 1, (1, 96, 96)), 1), 2)
        np.save(os.path.join(TMP, "s16", "t%d.npy" % i), ((x - x.min()) / (x.max() - x.min()) * 65535).astype(np.uint16))
    for args in (["--linear"], ["-N", "8", "-R", "1", "--steps", "5", "--crop", "32"]):
        rc, _, err = run("train", "-q", "-f", *args, "--channels", "1", "-J", "2", "-K", "4", "--gain", "1000",
                         "-o", os.path.join(TMP, "g.wlm"), os.path.join(TMP, "s16"))
        assert rc == 1 and "lower the gain" in err and not os.path.exists(os.path.join(TMP, "g.wlm")), (args, rc, err)
    g = os.path.join(TMP, "g32.wlm")
    assert run("train", "-q", "-f", "--linear", "--channels", "1", "-J", "2", "-K", "4", "--gain", "32", "-o", g,
               os.path.join(TMP, "s16"))[0] == 0
    a = np.full((1, 64, 64), 65535, np.uint16)
    a[:, 32:] = 0
    np.save(os.path.join(TMP, "ends.npy"), a)
    for extra in ([], ["--step", "896"]):
        assert run("encode", "-q", "-f", "-m", g, *extra, os.path.join(TMP, "ends.npy"), "-o", os.path.join(TMP, "e.wlc"))[0] == 0
        assert run("decode", "-q", "-f", "-m", g, os.path.join(TMP, "e.wlc"), "-o", os.path.join(TMP, "e.npy"))[0] == 0
        b = np.load(os.path.join(TMP, "e.npy")).astype(int)
        most = 12000 if not extra else 64  # the linear model alone blurs the edge; the detail layer restores it
        assert b[0, :24].min() >= 65535 - most and b[0, 40:].max() <= most, (extra, b[0, :24].min(), b[0, 40:].max())


sys.exit(finish())

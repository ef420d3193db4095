#!/usr/bin/python3
"""Neural-model benchmark (make bench, after image.py). Models are built-in names or .wlm paths;
a gray model gets the BT.601 luma of each image; a model walloc rejects is skipped with a note.

1. Decoder speed: whole-process `walloc decode` of the 768x512 crop of image.py, -T1 and -T2,
   median of RUNS runs, for the models in BENCH_MODELS (default rgb,rgb-linear,gray).
2. Rate/quality: mean bpp and PSNR over each set in BENCH_SETS (default corpus/val,corpus/val2)
   at --keep 3, 6, 9, 12 (up to each model's K), -T2, for the models in BENCH_COMPARE (default
   rgb,rgb-linear), with the PSNR of the first minus that of the second, for the set and for each
   photo in it (the mean over the photo's scales).
3. Refinement: the first of BENCH_COMPARE encoded with --refine BENCH_REFINE (default 30; 0
   skips it) at those k, against the second's PSNR at the same bpp (interpolated on its curve
   over every k, plain and with the same --refine). About 40 minutes on two cores for the
   default sets.
4. Training speed: examples/s of `walloc train -T2` (default architecture) on BENCH_TRAIN
   (default corpus/train) between its progress lines at steps S/3 and S (S = BENCH_TRAIN_STEPS,
   default 300), so without the set-up; against the same decoder in PyTorch (torch_step.py)
   when python3-torch is installed."""
import importlib.util
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from common import TOP, WALLOC, RUNS, tmp, sh, median_time, psnr, rgb, gray_copy, split_images, crop768x512

KEEPS = (3, 6, 9, 12)
MPIX = 768 * 512 / 1e6
# The CLI's default neural architecture, passed explicitly so that PyTorch builds the same one.
ARCH = {"J": 3, "K": 12, "N": 64, "R": 2, "crop": 128, "batch": 16}


def env_list(name, default):
    return [x for x in os.environ.get(name, default).split(",") if x]


probed = {}


def probe(model, crop):
    """(image channels, K) of a model, found by encoding the crop (or its luma for a gray model),
    or (None, walloc's message) when walloc rejects it."""
    if model not in probed:
        out, err = os.path.join(tmp, "probe.wlc"), None
        for src in (crop, gray_copy(crop)):
            r = subprocess.run([WALLOC, "encode", "-f", "-m", model, src, "-o", out], capture_output=True, text=True)
            if r.returncode == 0:
                info = json.loads(subprocess.run([WALLOC, "info", "--json", out], capture_output=True).stdout)
                probed[model] = (info["channels"], info["K"])
                break
            err = err or (r.stderr.strip().splitlines() or ["exit status %d" % r.returncode])[-1]
        else:
            probed[model] = (None, err)
    return probed[model]


def usable(models, crop):
    """The (model, channels, K) that walloc accepts; a note for each one it does not."""
    ok = []
    for m in models:
        ch, k = probe(m, crop)
        if ch is None:
            print("- skipped `%s`: %s" % (m, k))
        else:
            ok.append((m, ch, k))
    if len(ok) < len(models):
        print()
    return ok


def pixels(path, channels):
    return rgb(path) if channels == 3 else np.asarray(Image.open(path).convert("L"))


def decode_speed(models, crop):
    print("## Decoder: whole-process `walloc decode` of a 768x512 crop (median of %d runs)\n" % RUNS)
    rows = []
    for m, ch, k in usable(models, crop):
        wlc = os.path.join(tmp, "speed.wlc")
        sh(WALLOC, "encode", "-q", "-f", "-m", m, crop if ch == 3 else gray_copy(crop), "-o", wlc)
        ts = [median_time(WALLOC, "decode", "-q", "-f", "-T%d" % t, "-m", m, wlc, "-o", wlc + ".png") for t in (1, 2)]
        rows.append("| %s | %s | %d | %.1f | %.2f | %.1f | %.2f |" % (m, "RGB" if ch == 3 else "gray", k, 1e3 * ts[0],
                                                                  MPIX / ts[0], 1e3 * ts[1], MPIX / ts[1]))
    print("| model | input | K | -T1 ms | -T1 MP/s | -T2 ms | -T2 MP/s |\n|---|---|---|---|---|---|---|")
    print("\n".join(rows))


def rate_quality_per_image(model, channels, k, imgs, refine=0):
    """[(bpp, PSNR)] of each image at --keep k (and --refine refine)."""
    out = []
    wlc = os.path.join(tmp, "rq.wlc")
    for src in imgs:
        src = src if channels == 3 else gray_copy(src)
        sh(WALLOC, "encode", "-q", "-f", "-T2", "-m", model, "--keep", str(k), "--refine", str(refine), src, "-o", wlc)
        sh(WALLOC, "decode", "-q", "-f", "-T2", "-m", model, wlc, "-o", wlc + ".png")
        a = pixels(src, channels)
        out.append((8.0 * os.path.getsize(wlc) / (a.shape[0] * a.shape[1]), psnr(a, pixels(wlc + ".png", channels))))
    return out


def photo_name(path):
    """The photo an image of a corpus split comes from: its name less the _sN scale suffix."""
    return re.sub(r"_s\d+$", "", os.path.splitext(os.path.basename(path))[0])


def per_photo_gains(per, models, imgs):
    """PSNR of the first model minus the second's, averaged over each photo's scales: a set's mean
    gain can hide photos where the neural decoder gains nothing."""
    a, b = models[0][0], models[1][0]
    keeps = [k for k in KEEPS if (a, k) in per and (b, k) in per]
    photos = {}
    for i, p in enumerate(imgs):
        photos.setdefault(photo_name(p), []).append(i)
    print("PSNR %s - %s by photo (dB, mean over its scales):\n" % (a, b))
    print("| photo | images |" + "".join(" k = %d |" % k for k in keeps) + "\n|---|---|" + "---|" * len(keeps))
    for ph, idx in sorted(photos.items()):
        gains = ["%+.2f" % np.mean([per[a, k][i][1] - per[b, k][i][1] for i in idx]) for k in keeps]
        print("| %s | %d | %s |" % (ph, len(idx), " | ".join(gains)))
    print()


def rate_quality(models, sets, crop):
    print("\n## Rate and quality, neural against linear (mean over each set, -T2)\n")
    models = usable(models, crop)
    for s in sets:
        imgs = split_images(s)
        if not imgs:
            print("%s: no PNG images, skipped\n" % s)
            continue
        per = {(m, k): rate_quality_per_image(m, ch, k, imgs) for m, ch, mk in models for k in KEEPS if k <= mk}
        res = {mk: tuple(np.mean(v, axis=0)) for mk, v in per.items()}
        print("### %s (%d images)\n" % (s, len(imgs)))
        diff = len(models) > 1
        print("| k |" + "".join(" %s bpp | %s PSNR |" % (m, m) for m, _, _ in models) +
              (" PSNR %s - %s (dB) |" % (models[0][0], models[1][0]) if diff else ""))
        print("|---|" + "---|---|" * len(models) + ("---|" if diff else ""))
        for k in KEEPS:
            if not any((m, k) in res for m, _, _ in models):
                continue
            cells = ["%.3f | %.2f" % res[m, k] if (m, k) in res else "- | -" for m, _, _ in models]
            if diff:
                a, b = res.get((models[0][0], k)), res.get((models[1][0], k))
                cells.append("%+.2f" % (a[1] - b[1]) if a and b else "-")
            print("| %d | %s |" % (k, " | ".join(cells)))
        print()
        if diff:
            per_photo_gains(per, models, imgs)


def set_curve(model, channels, keeps, imgs, refine=0):
    """{k: (mean bpp, mean PSNR)} of a set."""
    return {k: tuple(np.mean(rate_quality_per_image(model, channels, k, imgs, refine), axis=0)) for k in keeps}


def psnr_at(curve, bpp):
    """A set's PSNR at the given bpp, interpolated linearly between its k points (None outside)."""
    pts = sorted(curve.values())
    if not pts[0][0] <= bpp <= pts[-1][0]:
        return None
    return float(np.interp(bpp, [b for b, _ in pts], [q for _, q in pts]))


def refinement(models, sets, crop, iters):
    """The first model with --refine against the second at equal bpp: the second's PSNR at the
    refined first's bpp, interpolated on its curve over every k, with and without --refine."""
    if iters <= 0:
        return
    print("\n## Refinement: `--refine %d` (mean over each set, -T2)\n" % iters)
    models = usable(models, crop)
    if len(models) < 2:
        return
    (a, ach, ak), (b, bch, bk) = models[:2]
    wlc = os.path.join(tmp, "refine.wlc")
    ts = [median_time(WALLOC, "encode", "-q", "-f", "-T2", "-m", a, "--refine", str(r), crop, "-o", wlc) for r in (0, iters)]
    print("Encoding the 768x512 crop with %s, -T2 (median of %d runs): %.1f ms plain, %.0f ms refined (%.0fx).\n"
          % (a, RUNS, 1e3 * ts[0], 1e3 * ts[1], ts[1] / ts[0]))
    for s in sets:
        imgs = split_images(s)
        if not imgs:
            continue
        t0 = time.time()
        ref = set_curve(a, ach, [k for k in KEEPS if k <= ak], imgs, iters)
        ta = time.time() - t0
        plain = set_curve(a, ach, ref.keys(), imgs)
        lin = set_curve(b, bch, range(1, bk + 1), imgs)
        lin_ref = set_curve(b, bch, range(1, bk + 1), imgs, iters)
        print("### %s (%d images; %s refinement took %.0f s in all)\n" % (s, len(imgs), a, ta))
        print("| k | %s bpp | PSNR | refined bpp | PSNR | %s at that bpp | refined, at that bpp | gain | gain over refined |" % (a, b))
        print("|---|---|---|---|---|---|---|---|---|")
        for k, (bpp, q) in ref.items():
            l, lr = psnr_at(lin, bpp), psnr_at(lin_ref, bpp)
            cell = lambda v, f: f % v if v is not None else "-"
            print("| %d | %.3f | %.2f | %.3f | %.2f | %s | %s | %s | %s |" % (
                k, plain[k][0], plain[k][1], bpp, q, cell(l, "%.2f"), cell(lr, "%.2f"),
                cell(None if l is None else q - l, "%+.2f"), cell(None if lr is None else q - lr, "%+.2f")))
        print()


def walloc_train_speed(train_set, steps, crop):
    """Examples/s of walloc train between the progress lines at steps S/3 and S, timed as the
    lines arrive; the per-line validation runs on one 128x128 image, so costs next to nothing."""
    val = os.path.join(tmp, "val128.png")
    Image.open(crop).crop((0, 0, 128, 128)).save(val)
    every = max(1, steps // 3)
    arch = sum((["-" + a if len(a) == 1 else "--" + a, str(v)] for a, v in ARCH.items()), [])
    cmd = [WALLOC, "train", "-T2", "-f", "-o", os.path.join(tmp, "train.wlm"), "--steps", str(steps),
           "--val", val, "--val-every", str(every)] + arch + [train_set]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    at = {}
    for line in p.stderr:
        m = re.match(r"step (\d+)/", line)
        if m:
            at[int(m.group(1))] = time.perf_counter()
    if p.wait() or 0 not in at or every not in at or max(at) <= every:
        raise RuntimeError("walloc train failed: %s" % " ".join(cmd))
    last = max(at)
    return (last - every) * ARCH["batch"] / (at[last] - at[every]), at[0] - t0, last - every


def train_speed():
    train_set = os.environ.get("BENCH_TRAIN", "corpus/train")
    steps = int(os.environ.get("BENCH_TRAIN_STEPS", "300"))
    print("## Training: `walloc train -T2` (-J 3 -K 12 -N 64 -R 2 --crop 128 --batch 16) against PyTorch\n")
    ex, setup, n = walloc_train_speed(os.path.join(TOP, train_set), steps, crop768x512(split_images()))
    print("walloc set-up (loading %s, PCA fit): %.1f s, not counted; %d steps timed.\n" % (train_set, setup, n))
    print("| trainer | examples/s |\n|---|---|\n| walloc train -T2 | %.0f |" % ex)
    if importlib.util.find_spec("torch") is None:
        print("\nPyTorch comparison skipped: python3-torch is not installed (scripts/deps.sh bench installs it "
              "where Debian has it).")
        return
    import torch
    import torch_step
    te = torch_step.examples_per_second(**ARCH, threads=2)
    print("| PyTorch %s, 2 threads, decoder only (torch_step.py) | %.0f |" % (torch.__version__, te))
    print("\nwalloc/PyTorch: %.2fx. A whole-step comparison: walloc's step also runs the data pipeline (random "
          "crops, packet transform, encoder, companding and noise, inverse and adjoint packet transforms); "
          "PyTorch's is the decoder with an AdamW step on random latents." % (ex / te))


def main():
    if not os.access(WALLOC, os.X_OK) or not split_images():
        print("bench: needs ./walloc and corpus/val (make; scripts/corpus.sh)", file=sys.stderr)
        return 1
    crop = crop768x512(split_images())
    print("\n# Neural models (%s, %d cores)\n" % (os.uname().machine, os.cpu_count()))
    decode_speed(env_list("BENCH_MODELS", "rgb,rgb-linear,gray"), crop)
    compare, sets = env_list("BENCH_COMPARE", "rgb,rgb-linear"), env_list("BENCH_SETS", "corpus/val,corpus/val2")
    rate_quality(compare, sets, crop)
    refinement(compare, sets, crop, int(os.environ.get("BENCH_REFINE", "30")))
    train_speed()
    return 0


if __name__ == "__main__":
    sys.exit(main())

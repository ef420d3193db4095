#!/usr/bin/python3
"""Seed corpora of make fuzz: python3 tests/fuzz/seeds.py WALLOC OUTDIR writes OUTDIR/TARGET/*
for the targets of tests/fuzz: .wlc files of every built-in model (images from testdata, with
and without a detail layer; a synthesised clip), the same clips' streams behind two piece-size bytes, the small built-in
models, .npy arrays, and WAV/FLAC/OGG files."""
import os
import shutil
import subprocess
import sys

import numpy as np
import soundfile as sf

walloc, out = sys.argv[1], sys.argv[2]
top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
images = os.path.join(top, "testdata", "images")
for t in ("decode", "stream", "model", "npy", "sound", "png"):
    os.makedirs(os.path.join(out, t), exist_ok=True)
sh = lambda *a: subprocess.run([walloc, *a], check=True, stdout=subprocess.DEVNULL)  # noqa: E731

for name, model in (("garden-rgb8.png", "rgb"), ("garden-rgba8.png", "rgb-linear"), ("storm-gray8-odd.png", "gray")):
    sh("encode", "-q", "-f", "--keep", "3", "-m", model, os.path.join(images, name),
       "-o", os.path.join(out, "decode", model + ".wlc"))
    sh("encode", "-q", "-f", "--keep", "2", "--step", "300", "-m", model, os.path.join(images, name),
       "-o", os.path.join(out, "decode", model + "-detail.wlc"))  # version 5: a detail layer
    sh("encode", "-q", "-f", "--keep", "4", "--fast-read", "-m", model, os.path.join(images, name),
       "-o", os.path.join(out, "decode", model + "-fast.wlc"))  # entropy mode 4 (bucket tables)
t = np.arange(3000) / 8000.0
for channels, model in ((2, "stereo"), (1, "mono")):
    clip = os.path.join(out, "clip%d.wav" % channels)
    sf.write(clip, 0.3 * np.stack([np.sin(2 * np.pi * (300 + 200 * c) * t) for c in range(channels)], 1), 8000,
             subtype="PCM_16")
    wlc = os.path.join(out, "decode", model + ".wlc")
    sh("encode", "-q", "-f", "--chunk", "8192", "-m", model, clip, "-o", wlc)  # version 4: a band envelope
    open(os.path.join(out, "stream", model), "wb").write(bytes([7, 3]) + open(wlc, "rb").read())
    detail = os.path.join(out, "decode", model + "-detail.wlc")  # version 4: an envelope and a detail layer
    sh("encode", "-q", "-f", "--chunk", "8192", "--step", "500", "-m", model, clip, "-o", detail)
    open(os.path.join(out, "stream", model + "-detail"), "wb").write(bytes([7, 3]) + open(detail, "rb").read())
    sh("encode", "-q", "-f", "--chunk", "8192", "--no-fill", "-m", model, clip, "-o",
       os.path.join(out, "decode", model + "-v2.wlc"))  # version 2
    for fmt, sub in (("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS")):
        sf.write(os.path.join(out, "sound", "clip%d.%s" % (channels, fmt)), sf.read(clip)[0], 8000, subtype=sub)
    os.remove(clip)
for m in ("rgb-linear", "gray"):
    shutil.copy(os.path.join(top, "codec", "models", m + ".wlm"), os.path.join(out, "model"))
np.save(os.path.join(out, "npy", "rgb8.npy"), (np.arange(3 * 12 * 10) % 256).astype(np.uint8).reshape(3, 12, 10))
np.save(os.path.join(out, "npy", "gray16.npy"), (np.arange(9 * 7) * 911 % 65536).astype(np.uint16).reshape(9, 7))
for name in os.listdir(images):
    shutil.copy(os.path.join(images, name), os.path.join(out, "png"))

#!/usr/bin/python3
"""Builds the image corpus from Debian-packaged photos (see scripts/corpus.sh).

Every photo is box-downscaled by 2x, 3x, 4x, 6x and 8x (JPEG artefacts vanish at >= 2x);
scales whose short side is under 256 px are skipped. Held-out photos go to val/, the rest
to train/. Writes 8-bit RGB PNGs named PHOTO_sN.png."""
import os
import sys
from PIL import Image

LOMIRI = "/usr/share/backgrounds"
MATE = "/usr/share/backgrounds/mate/nature"
SKIP = {"umang_by_Abhishek_Mudgal.jpg"}  # a synthetic gradient, not a photo
VAL = {"Dragonfly_by_Bolly.jpg", "sunset_by_Aitzol_Berasategi.jpg", "Garden.jpg", "Storm.jpg"}
SCALES = (2, 3, 4, 6, 8)


def photos():
    for d in (LOMIRI, MATE):
        for f in sorted(os.listdir(d)):
            if f.endswith(".jpg") and f not in SKIP:
                yield os.path.join(d, f)


def main(out):
    for path in photos():
        name = os.path.basename(path)
        sub = "val" if name in VAL else "train"
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        img = Image.open(path).convert("RGB")
        for s in SCALES:
            w, h = img.size[0] // s, img.size[1] // s
            if min(w, h) < 256:
                continue
            dst = os.path.join(out, sub, "%s_s%d.png" % (name[:-4], s))
            if not os.path.exists(dst):
                img.crop((0, 0, w * s, h * s)).reduce(s).save(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "corpus"))

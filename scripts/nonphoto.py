#!/usr/bin/python3
"""The second validation set: non-photographic images (astronomy, medicine, microscopy,
texture) from Debian's python3-skimage data, which no walloc model is trained on. Writes
  DIR/val3/rgb/*.png   hubble_deep_field and retina (JPEG sources: box-downscaled 2x), ihc
                       (immunohistochemistry microscopy)
  DIR/val3/gray/*.png  brick, grass, gravel (textures), moon, cell (microscopy), coins
Idempotent: existing PNGs are kept. Used by bench/rd.py (make bench)."""
import os
import sys

from PIL import Image

DATA = "/usr/lib/python3/dist-packages/skimage/data"
RGB = (("hubble_deep_field.jpg", 2), ("retina.jpg", 2), ("ihc.png", 1))
GRAY = (("brick.png", 1), ("grass.png", 1), ("gravel.png", 1), ("moon.png", 1), ("cell.png", 1), ("coins.png", 1))


def main(out):
    n = 0
    for kind, names, mode in (("rgb", RGB, "RGB"), ("gray", GRAY, "L")):
        os.makedirs(os.path.join(out, "val3", kind), exist_ok=True)
        for name, scale in names:
            dst = os.path.join(out, "val3", kind, os.path.splitext(name)[0] + ".png")
            if os.path.exists(dst):
                continue
            img = Image.open(os.path.join(DATA, name)).convert(mode)
            w, h = img.size[0] // scale, img.size[1] // scale
            img.crop((0, 0, w * scale, h * scale)).reduce(scale).save(dst + ".tmp", format="PNG")
            os.replace(dst + ".tmp", dst)
            n += 1
    print("corpus: %s/val3: %d RGB and %d gray images (%d written)" % (out, len(RGB), len(GRAY), n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "corpus"))

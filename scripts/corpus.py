#!/usr/bin/python3
"""Builds the image corpus from Debian-packaged photos (see scripts/corpus.sh and the
"Corpus" section of codec/models/README.md).

Every photo is box-downscaled by 2x, 3x, 4x, 6x and 8x (JPEG artefacts vanish at >= 2x);
scales whose short side is under 256 px are skipped. Writes 8-bit RGB PNGs named
PHOTO_sN.png into
  train/  photos of the training packages,
  val/    held-out photos of the same packages (VAL below), never used for fitting,
  val2/   every photo of VAL2_PACKAGE, a package never used for training at all.
Idempotent: existing PNGs are kept (each is written to a temporary name, then renamed), PNGs
that the current source list does not produce are removed from the three folders."""
import fnmatch
import io
import os
import struct
import subprocess
import sys
from multiprocessing import Pool

from PIL import Image

SCALES = (2, 3, 4, 6, 8)
MIN_SIDE = 256
OPAQUE = 250  # alpha at or above this counts as opaque (stellarium has a few 252..254 pixels)

# (Debian package, glob over the package's files, names to keep (None: all), names to skip).
# A photo's name is its file name less the extension; NAME_FROM_DIR packages use the
# folder that holds the image (plasma's are all called 2560x1600.jpg).
SOURCES = [
    ("lomiri-wallpapers-16.04", "/usr/share/backgrounds/*.jpg", None,
     {"umang_by_Abhishek_Mudgal"}),  # a synthetic gradient
    ("mate-backgrounds", "/usr/share/backgrounds/mate/nature/*.jpg", None, set()),
    # 3840x2160 photos stored as JPEG inside Edje files (see edj_image); the other nine
    # backgrounds are flat or vector art: Dunes, Flat-Fan, Flat-Stone-Pattern, Paper-Flower,
    # Squiggle(-Dark, -Light, -Mid), Sunset-Hills.
    ("enlightenment-data", "/usr/share/enlightenment/data/backgrounds/*.edj",
     {"Bamboo", "Foggy-Trees", "God-Rays", "Green-Maple", "Lichen-Branches", "Mountain",
      "Peaks", "Red-Maple", "Sea-of-Lanterns", "Snow-Trees", "Spruce-Needles",
      "Sunset-Clouds", "White-Flower", "Yellow-Flower"}, set()),
    # Fossa and Painting-Colors are abstract art; Infinite-Sea is a composite (rendered
    # water and polygon overlays under a Milky Way photo).
    ("lomiri-wallpapers-20.04", "/usr/share/backgrounds/*.jpg",
     {"Kleiber_by_Lukas_Baubkus"}, set()),
    # The rest of /usr/share/lxqt/wallpapers is abstract art or logos.
    ("lxqt-themes", "/usr/share/lxqt/wallpapers/*",
     {"Butterfly-Kenneth-Wimer", "Valendas", "after-the-rain", "appleflower", "beam",
      "butterfly", "cloud", "drop", "flowers", "fog", "this-is-not-windows"}, set()),
    ("palapeli-data", "/usr/share/palapeli/collection/*.jpg", None, set()),
    # OpenCV sample photos: streets, buildings, signs, graffiti, objects. Not used: stereo or
    # viewpoint twins (aloeR, leuvenB, graf3), scanned fruit (apple, orange), the rest are
    # under 512 px or not photos.
    ("opencv-doc", "/usr/share/doc/opencv-doc/examples/*",
     {"aloeL", "baboon", "building", "ela_original", "graf1", "leuvenA", "scenetext01",
      "scenetext02", "scenetext03", "scenetext04", "scenetext05"}, set()),
    # Landscape textures: only these are photos whose opaque part is >= 512 px high. The
    # horizon panoramas (garching-gl*, grossmugl) are under 512 px high once the transparent
    # sky is cut; ocean9 looks synthetic; apollo17 is grey with a flat fill.
    ("stellarium-data", "/usr/share/stellarium/landscapes/*/*.png",
     {"mars", "garching-ground3", "guereinsb", "hurricaneb"}, set()),
    # Validation only (VAL2_PACKAGE): the 2560x1600 photos; the other wallpapers are
    # abstract art or drawings (and Autumn is digital painting).
    ("plasma-workspace-wallpapers", "/usr/share/wallpapers/*/contents/images/2560x1600.jpg",
     {"BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
      "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "summer_1am"}, set()),
]
NAME_FROM_DIR = {"plasma-workspace-wallpapers"}
VAL2_PACKAGE = "plasma-workspace-wallpapers"
VAL = {"Dragonfly_by_Bolly", "sunset_by_Aitzol_Berasategi",  # lomiri-wallpapers-16.04
       "Garden", "Storm",                                     # mate-backgrounds
       "Snow-Trees", "Red-Maple"}                             # enlightenment-data
EXTS = (".jpg", ".png", ".edj")


def package_files(pkg):
    r = subprocess.run(["dpkg-query", "-L", pkg], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("corpus: package %s is not installed (run scripts/deps.sh corpus)" % pkg)
    return r.stdout.split("\n")


def photos():
    """Yields (package, split, name, path) for every photo, sorted within each package."""
    seen = {}
    for pkg, pattern, keep, skip in SOURCES:
        found = {}
        for path in package_files(pkg):
            if not fnmatch.fnmatchcase(path, pattern) or not path.endswith(EXTS):
                continue
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            if pkg in NAME_FROM_DIR:
                name = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(path))))
            else:
                name = os.path.splitext(os.path.basename(path))[0]
            if name in skip or (keep is not None and name not in keep):
                continue
            if name in found:
                sys.exit("corpus: %s has two photos named %s" % (pkg, name))
            found[name] = path
        if keep is not None and set(found) != keep:
            sys.exit("corpus: %s lacks %s" % (pkg, ", ".join(sorted(keep - set(found)))))
        for name in sorted(found):
            if name in seen:
                sys.exit("corpus: %s is in both %s and %s" % (name, seen[name], pkg))
            seen[name] = pkg
            split = "val2" if pkg == VAL2_PACKAGE else "val" if name in VAL else "train"
            yield pkg, split, name, found[name]
    if not VAL <= set(seen):
        sys.exit("corpus: held-out photos not found: %s" % ", ".join(sorted(VAL - set(seen))))


def edj_image(path):
    """The largest image of an Edje file. An .edj is an Eet file (magic 0x1ee70f42, then the
    entry count, the dictionary size and per entry offset, size, data size, name offset,
    name size, flags); edje/images/N entries stored LOSSY are plain JPEG. Gives the same
    pixels as the img.png that `edje_decc` (libedje-bin) writes, in seconds, not minutes."""
    with open(path, "rb") as f:
        d = f.read()
    magic, n, _ = struct.unpack(">Iii", d[:12])
    if magic != 0x1EE70F42:
        sys.exit("corpus: %s is not an Eet file" % path)
    best = None
    for i in range(n):
        off, size, _, noff, nsize, flags = struct.unpack(">6i", d[12 + 24 * i:36 + 24 * i])
        name = d[noff:noff + nsize].rstrip(b"\0").decode()
        data = d[off:off + size]
        if name.startswith("edje/images/") and flags == 0 and data[:3] == b"\xff\xd8\xff":
            img = Image.open(io.BytesIO(data))
            area = img.size[0] * img.size[1]
            if best is None or area > best[0]:
                best = (area, img)
    if best is None:
        sys.exit("corpus: no JPEG image in %s" % path)
    return best[1]


def opaque_rows(img):
    """Crops an image with alpha to its tallest band of full-width rows that are opaque."""
    a = img.convert("RGBA").getchannel("A")
    w, h = a.size
    best, start = (0, 0), None
    for y in range(h + 1):
        ok = y < h and a.crop((0, y, w, y + 1)).getextrema()[0] >= OPAQUE
        if ok and start is None:
            start = y
        elif not ok and start is not None:
            if y - start > best[1] - best[0]:
                best = (start, y)
            start = None
    return img.convert("RGBA").crop((0, best[0], w, best[1]))


def load(path):
    img = edj_image(path) if path.endswith(".edj") else Image.open(path)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        img = opaque_rows(img)
    return img


def targets(out, split, name, size):
    w, h = size
    return [(s, os.path.join(out, split, "%s_s%d.png" % (name, s)))
            for s in SCALES if min(w // s, h // s) >= MIN_SIDE]


def build(job):
    """Writes the missing PNGs of one photo; returns (all its PNG paths, number written)."""
    out, split, name, path = job
    img = load(path)
    dsts = targets(out, split, name, img.size)
    todo = [(s, dst) for s, dst in dsts if not os.path.exists(dst)]
    if todo:
        img = img.convert("RGB")
        for s, dst in todo:
            w, h = img.size[0] // s, img.size[1] // s
            tmp = dst + ".tmp"
            img.crop((0, 0, w * s, h * s)).reduce(s).save(tmp, format="PNG")
            os.replace(tmp, dst)
    return [dst for _, dst in dsts], len(todo)


def main(out):
    jobs = [(out, split, name, path) for _, split, name, path in photos()]
    for split in ("train", "val", "val2"):
        os.makedirs(os.path.join(out, split), exist_ok=True)
    with Pool(min(4, os.cpu_count() or 1)) as pool:
        done = pool.map(build, jobs, chunksize=1)
    want = {dst for dsts, _ in done for dst in dsts}
    written = sum(n for _, n in done)
    removed = 0
    for split in ("train", "val", "val2"):
        d = os.path.join(out, split)
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if (f.endswith(".png") and p not in want) or f.endswith(".png.tmp"):
                os.remove(p)
                removed += 1
    for split in ("train", "val", "val2"):
        n = sum(1 for j in jobs if j[1] == split)
        m = sum(1 for p in want if os.path.dirname(p) == os.path.join(out, split))
        print("corpus: %s/%s: %d PNGs from %d photos" % (out, split, m, n))
    print("corpus: %d PNGs written, %d stale files removed" % (written, removed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "corpus"))

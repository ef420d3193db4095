#!/bin/sh
# Prepares the image corpus from Debian packages into DIR (default corpus/):
#   DIR/train/*.png  training photos, DIR/val/*.png  held-out photos of the same packages,
#   DIR/val2/*.png   photos of plasma-workspace-wallpapers, a package never used for training;
#   DIR/val3/{rgb,gray}/*.png  non-photographic images of python3-skimage (scripts/nonphoto.py).
# Installs the packages of `scripts/deps.sh corpus` when missing (about 0.9 GB to download).
# Idempotent: a re-run writes only missing PNGs (about 1 s); a first run takes about 1 min.
# Sources, held-out photos and skipped images: codec/models/README.md, section "Corpus".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"$here/deps.sh" corpus
/usr/bin/python3 "$here/nonphoto.py" "${1:-corpus}"
exec /usr/bin/python3 "$here/corpus.py" "${1:-corpus}"

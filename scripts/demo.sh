#!/bin/sh
# make demo: round-trips every image in testdata/images with the built-in models and prints
# bits per pixel, compression ratio, dimensionality reduction and PSNR per image.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for png in testdata/images/*.png; do
  name=$(basename "$png" .png)
  ./walloc encode -q "$png" -o "$out/$name.wlc"
  ./walloc decode -q "$out/$name.wlc" -o "$out/$name.png"
  ./walloc eval "$png" "$out/$name.wlc"
done

#!/bin/sh
# make demo: round-trips every image in testdata/images with the built-in models and prints
# bits per pixel, compression ratio, dimensionality reduction and PSNR per image; then one
# photo along the rate-control ladder (-Q) and at a PSNR target.
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
png=testdata/images/garden-rgb8.png
for q in 10 50 75 90; do
  ./walloc encode -q -Q "$q" "$png" -o "$out/q$q.wlc"
  printf 'walloc encode -Q %-3s %s\n' "$q" "$(./walloc eval "$png" "$out/q$q.wlc" | sed 's/.*RGB, //')"
done
./walloc encode -q --psnr 40 "$png" -o "$out/p40.wlc"
printf 'walloc encode --psnr 40 %s\n' "$(./walloc eval "$png" "$out/p40.wlc" | sed 's/.*RGB, //')"

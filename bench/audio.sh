#!/bin/sh
# make bench: prepares the audio corpus (wesnoth music, klettres speech) if needed, fits the
# linear (PCA) models that the built-in stereo and mono models start from (their encoders: the
# trainer's PCA subsamples by 4, as --stride 4 does), then runs bench/audio.py against them
# (models: BENCH_AUDIO_MODELS, baselines: BENCH_AUDIO_LINEAR, see there).
set -eu
cd "$(dirname "$0")/.."
[ -d corpus/audio/music/val ] || scripts/audio_corpus.sh corpus/audio
if [ -z "${BENCH_AUDIO_LINEAR:-}" ]; then
  d=$(mktemp -d)
  trap 'rm -rf "$d"' EXIT
  ./walloc train --linear -q -J 8 -K 108 --gain 16 --stride 4 -o "$d/stereo-linear.wlm" corpus/audio/music/train
  ./walloc train --linear -q -J 8 -K 54 --channels 1 --gain 16 --stride 4 -o "$d/mono-linear.wlm" corpus/audio/speech/train
  BENCH_AUDIO_LINEAR="$d/stereo-linear.wlm,$d/mono-linear.wlm"
  export BENCH_AUDIO_LINEAR
fi
/usr/bin/python3 bench/audio.py

#!/bin/sh
# make bench: prepares the audio corpus (wesnoth music, klettres speech) if needed, then runs
# bench/audio.py (models: BENCH_AUDIO_MODELS, see there).
set -eu
cd "$(dirname "$0")/.."
[ -d corpus/audio/music/val ] || scripts/audio_corpus.sh corpus/audio
exec /usr/bin/python3 bench/audio.py

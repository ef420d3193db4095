#!/bin/sh
# make bench: prepares the corpus (Debian photos) if needed, then runs bench/image.py.
set -eu
cd "$(dirname "$0")/.."
[ -d corpus/val ] || scripts/corpus.sh corpus
exec /usr/bin/python3 bench/image.py

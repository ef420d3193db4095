#!/bin/sh
# Prepares the training/validation image corpus from Debian packages into DIR (default corpus/).
# Installs lomiri-wallpapers-16.04 and mate-backgrounds when missing. Idempotent.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"$here/deps.sh" corpus
exec /usr/bin/python3 "$here/corpus.py" "${1:-corpus}"

#!/bin/sh
# Installs the Debian packages walloc needs, and only those that are missing.
# Usage: scripts/deps.sh [build|check|demo|bench|corpus|audio|clang|fuzz] ...  (idempotent; root or sudo)
set -eu

pkgs_build="build-essential pkg-config libpng-dev libdeflate-dev libzstd-dev libfftw3-dev libsndfile1-dev libopenblas-openmp-dev"
pkgs_check="python3 python3-numpy python3-pywt python3-pil python3-soundfile python3-distributed zstd"
# Photo sources of scripts/corpus.py (about 0.9 GB to download, 1.3 GB installed; see codec/models/README.md).
pkgs_corpus="lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 mate-backgrounds enlightenment-data lxqt-themes palapeli-data opencv-doc stellarium-data plasma-workspace-wallpapers python3-skimage libjpeg-turbo-progs python3-pil"
# Music and speech of scripts/audio_corpus.sh (about 190 MB to download, 200 MB installed).
pkgs_audio="wesnoth-1.16-music klettres-data python3-soundfile"
# make CC=clang: clang and its OpenMP runtime.
pkgs_clang="clang libomp-dev"
# make fuzz: libFuzzer and the sanitizers' runtimes, and what tests/fuzz/seeds.py uses.
pkgs_fuzz="clang libomp-dev libclang-rt-14-dev python3-numpy python3-soundfile"
pkgs_bench="webp libjpeg-turbo-progs libjxl-tools libopenjp2-tools hyperfine zstd python3-torch opus-tools flac dataset-fashion-mnist python3-scipy python3-matplotlib"

want=""
for set in "${@:-build}"; do
  case "$set" in
    build)  want="$want $pkgs_build" ;;
    check)  want="$want $pkgs_build $pkgs_check" ;;
    demo)   want="$want $pkgs_build" ;;
    corpus) want="$want $pkgs_build $pkgs_corpus" ;;
    audio)  want="$want $pkgs_audio" ;;
    clang)  want="$want $pkgs_clang" ;;
    fuzz)   want="$want $pkgs_build $pkgs_fuzz" ;;
    bench)  want="$want $pkgs_build $pkgs_bench $pkgs_corpus" ;;
    *) echo "deps.sh: unknown set '$set'" >&2; exit 2 ;;
  esac
done

missing=""
for p in $want; do
  case " $missing " in *" $p "*) continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "deps.sh: missing packages:$missing (run as root or install sudo)" >&2; exit 1
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends $missing >&2

#!/bin/sh
# Prepares the audio corpus from Debian packages into DIR (default corpus/audio):
#   DIR/music/{train,val}/NAME.ogg         wesnoth-1.16-music tracks
#   DIR/speech/{train,val}/LANG_SET_X.ogg  klettres-data letters (SET alpha) and syllables (syllab)
# The original Vorbis files are copied unchanged (walloc reads OGG). Held out as val: the
# tracks MUSIC_VAL and every file of the languages (voices) SPEECH_VAL; silence.ogg (10 s of
# digital silence) is skipped. Installs `scripts/deps.sh audio` when missing (about 190 MB
# to download). Idempotent: copies only missing or changed files, removes files it would not
# write, then prints files and minutes per split. See codec/models/README.md, "Audio corpus".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-corpus/audio}
MUSIC_VAL="elvish-theme heroes_rite northerners the_city_falls"
MUSIC_SKIP="silence"
SPEECH_VAL="fr he uk"

"$here/deps.sh" audio
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "SOURCE DESTINATION" per file, from the packages' sorted file lists (names are plain ASCII).
dpkg-query -L wesnoth-1.16-music | grep '^/usr/share/games/wesnoth/1\.16/data/core/music/[^/]*\.ogg$' |
  sort | while read -r src; do
    name=$(basename "$src" .ogg)
    case " $MUSIC_SKIP " in *" $name "*) continue ;; esac
    case " $MUSIC_VAL " in *" $name "*) split="val" ;; *) split="train" ;; esac
    echo "$src $out/music/$split/$name.ogg"
  done >"$tmp/list"
dpkg-query -L klettres-data | grep '^/usr/share/klettres/[^/]*/[^/]*/[^/]*\.ogg$' |
  sort | while read -r src; do
    rel=${src#/usr/share/klettres/}
    case " $SPEECH_VAL " in *" ${rel%%/*} "*) split="val" ;; *) split="train" ;; esac
    echo "$src $out/speech/$split/$(echo "$rel" | tr / _)"
  done >>"$tmp/list"
for v in $MUSIC_VAL; do grep -q "/music/val/$v\.ogg$" "$tmp/list" || { echo "audio_corpus: no track $v" >&2; exit 1; }; done
for v in $SPEECH_VAL; do grep -q "/speech/val/${v}_" "$tmp/list" || { echo "audio_corpus: no voice $v" >&2; exit 1; }; done
[ -z "$(cut -d' ' -f2 "$tmp/list" | sort | uniq -d)" ] || { echo "audio_corpus: duplicate names" >&2; exit 1; }

copied=0
for d in music/train music/val speech/train speech/val; do mkdir -p "$out/$d"; done
while read -r src dst; do
  cmp -s "$src" "$dst" 2>/dev/null && continue
  cp "$src" "$dst.tmp" && mv "$dst.tmp" "$dst"
  copied=$((copied + 1))
done <"$tmp/list"
cut -d' ' -f2 "$tmp/list" | sort >"$tmp/want"
find "$out/music" "$out/speech" -type f | sort | comm -23 - "$tmp/want" >"$tmp/stale"
xargs -r rm -f <"$tmp/stale"
echo "audio_corpus: $copied files copied, $(wc -l <"$tmp/stale") stale files removed"

/usr/bin/python3 - "$out" <<'EOF'
import collections, os, sys
import soundfile as sf
for split in ("music/train", "music/val", "speech/train", "speech/val"):
    d = os.path.join(sys.argv[1], split)
    infos = [sf.info(os.path.join(d, f)) for f in sorted(os.listdir(d))]
    kinds = collections.Counter("%d Hz %s" % (i.samplerate, "mono" if i.channels == 1 else "%d ch" % i.channels)
                                for i in infos)
    print("audio_corpus: %s: %d files, %.1f min (%s)" % (d, len(infos), sum(i.duration for i in infos) / 60,
          ", ".join("%d x %s" % (n, k) for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))))
EOF

# bash completion for walloc (installed by make install into share/bash-completion/completions).
_walloc() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local cmds="encode decode info latents show eval train"
  # each command's own options, as walloc takes them (any other is a usage error: cli/main.c, scope)
  local any="-q -v -T -h --help" batch="-o -c -f -r -O -j --shard --manifest --skip-existing -m"
  local encode="-Q --quality --size --bpp --psnr --kbps --snr --no-fill --masks --tile-masks --fast-read --keep --step --dead-zone --refine --chunk"
  local train="-o -f -J -K --bits --channels --gain --name --linear --stride -N -R --crop --fine --fine-blocks --taps
    --loss --quant --batch --steps --warmup --lr --weight-decay --lambda --jitter --full --seed --time --val
    --val-every --checkpoint --checkpoint-every --resume"
  local opts
  case ${COMP_WORDS[1]} in
    encode) opts="$batch $encode" ;;
    decode) opts="$batch" ;;
    latents) opts="$batch --detail --mask" ;;
    show) opts="$batch --diff --spectrogram" ;;
    info) opts="-r --shard --json -m" ;;
    eval) opts="-m --json" ;;
    train) opts="$train" ;;
  esac
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "$cmds -h --help -V --version" -- "$cur"))
    return
  fi
  case $prev in
    -m) COMPREPLY=($(compgen -W "rgb rgb-linear gray stereo mono stereo-20x mono-20x" -- "$cur") $(compgen -f -X '!*.wlm' -- "$cur")); return ;;
    -O|--val|--checkpoint|--resume) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    -o|--manifest|--detail|--mask|--diff|--spectrogram) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -j|-T|-Q|--quality|--size|--bpp|--psnr|--kbps|--snr|--keep|--step|--dead-zone|--tile-masks|--refine|--chunk|--shard) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$any $opts" -- "$cur"))
  else
    case ${COMP_WORDS[1]} in
      encode) COMPREPLY=($(compgen -f -X '!*.@(png|npy|wav|flac|ogg|oga|aif|aiff|au|caf|w64|rf64)' -- "$cur") $(compgen -d -- "$cur")) ;;
      decode|info|latents|show) COMPREPLY=($(compgen -f -X '!*.@(wlc|wlm)' -- "$cur") $(compgen -d -- "$cur")) ;;
      *) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
  fi
}
shopt -s extglob 2>/dev/null
complete -o filenames -F _walloc walloc

#!/bin/sh
# Runs every test program or script given, then prints the closing "N passed, M failed" line.
# Each test prints "RESULT p f"; one that exits non-zero without failures reported, or prints
# no RESULT line (a crash), counts as one more failure.
set -u
passed=0; failed=0
for t in "$@"; do
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -v '^RESULT '
  res=$(printf '%s\n' "$out" | awk '/^RESULT /{p+=$2; f+=$3; n++} END{if(n) print p, f}')
  p=${res% *}; f=${res#* }
  if [ -z "$res" ] || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then
    echo "testing $(basename "$t") ... FAILED (exit status $rc)"
    p=${p:-0}; f=$(( ${f:-0} + 1 ))
  fi
  passed=$((passed + p)); failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

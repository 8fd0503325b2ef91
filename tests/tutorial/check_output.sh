#!/usr/bin/env bash
# tests/tutorial/check_output.sh PROGRAM EXPECT_FILE: runs PROGRAM with the arguments on the
# first line of EXPECT_FILE and checks that the other lines appear in its output, in order
# (each one a whole line; "..." matches any text; surrounding spaces are ignored).
set -uo pipefail
prog=$1 expect=$2
read -r -a args < <(head -n 1 "$expect")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$prog" "${args[@]}" > "$out" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  cat "$out"; echo "tutorial: $(basename "$prog") ${args[*]} exited with $rc"; exit 1
fi
awk '
  function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
  # Does line s match pattern p, where "..." in p matches any text?
  function matches(s, p,    parts, k, i, pos, at) {
    k = split(p, parts, /\.\.\./)
    if (k == 1) return s == p
    if (substr(s, 1, length(parts[1])) != parts[1]) return 0
    pos = length(parts[1]) + 1
    for (i = 2; i < k; ++i) {
      at = index(substr(s, pos), parts[i]); if (!at) return 0
      pos += at - 1 + length(parts[i])
    }
    return length(s) - pos + 1 >= length(parts[k]) && substr(s, length(s) - length(parts[k]) + 1) == parts[k]
  }
  FNR == NR { if (FNR > 1) { w = trim($0); if (w != "") want[++nw] = w } next }
  { got[++ng] = trim($0) }
  END {
    j = 1
    for (i = 1; i <= nw; ++i) {
      while (j <= ng && !matches(got[j], want[i])) ++j
      if (j > ng) {
        printf "tutorial: expected line %d not found (in order) in the output:\n  %s\n--- output ---\n", i, want[i]
        for (g = 1; g <= ng; ++g) print got[g]
        exit 1
      }
      ++j
    }
    printf "tutorial: %d expected lines found\n", nw
  }
' "$expect" "$out"

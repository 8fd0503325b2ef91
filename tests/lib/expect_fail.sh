# tests/lib/expect_fail.sh: sourced by the examples' bad-input scripts (tests/*/bad_input.sh).
#
#   expect_fail_in <binary> <what> <message substring> <args...>
# runs `binary args...` (with EMBER_NO_DOWNLOAD=1, so nothing is fetched) and counts a failure in
# $fails unless it exits non-zero without a crash (exit < 128) and its output names the problem.
fails=${fails:-0}
expect_fail_in() {
  local bin=$1 what=$2 want=$3
  shift 3
  local out rc name
  name=$(basename "$bin")
  out=$(EMBER_NO_DOWNLOAD=1 "$bin" "$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then
    echo "FAIL $name $what: exit $rc (want a clean non-zero exit)"; fails=$((fails + 1))
  elif ! grep -qF -- "$want" <<< "$out"; then
    echo "FAIL $name $what: message lacks '$want':"; echo "$out" | head -5; fails=$((fails + 1))
  else
    echo "ok   $name $what: $(grep -F -- "$want" <<< "$out" | head -1)"
  fi
}

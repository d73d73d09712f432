#!/bin/sh
# Runs the busted suite on each interpreter given, against build/<lua>/, all interpreters at once
# (each run starts its own fake servers on free ports, in its own temp dirs; most of a run is spent
# waiting on servers, so they overlap well). Prints each run's output in turn, then one closing line
# for the whole run: "tests: N passed, N failed". Exits non-zero if any run failed.
# TEST_JOBS=1 runs them one after the other.
cd "$(dirname "$0")/.."
passed=0 failed=0 status=0
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
jobs=${TEST_JOBS:-0}
running=0
for lua in "$@"; do
  LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;" LUA_CPATH="./build/$lua/?.so;;" \
    "$lua" /usr/bin/busted -o utfTerminal spec >"$logs/$lua.log" 2>&1 &
  running=$((running + 1))
  if [ "$jobs" -gt 0 ] && [ "$running" -ge "$jobs" ]; then wait; running=0; fi
done
wait
for lua in "$@"; do
  echo "== busted on $lua"
  cat "$logs/$lua.log"
  # busted's summary: "N successes / N failures / N errors / N pending : T seconds"
  summary=$(grep -a -E '^[0-9]+ success' "$logs/$lua.log" | tail -n 1) # -a: a failure may print binary
  if [ -z "$summary" ]; then
    echo "no busted summary for $lua"; status=1; failed=$((failed + 1)); continue
  fi
  ok=$(echo "$summary" | sed -E 's/^([0-9]+) success.*/\1/')
  bad=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures? \/ ([0-9]+) errors?.*/\1 \2/' | awk '{print $1 + $2}')
  passed=$((passed + ok)) failed=$((failed + bad))
  [ "$bad" -eq 0 ] || status=1
done
# CI keeps only the end of the output: repeat each failed run's failures (what busted prints after
# its summary line) just before the closing line.
for lua in "$@"; do
  if ! grep -a -q -E '^[0-9]+ successes? / 0 failures / 0 errors' "$logs/$lua.log"; then
    echo "== failures on $lua"
    if grep -a -q -E '^[0-9]+ success' "$logs/$lua.log"; then
      sed -n -E '/^[0-9]+ success/,$p' "$logs/$lua.log" | tail -n +2 | head -n 80
    else
      tail -n 40 "$logs/$lua.log" # busted itself died
    fi
  fi
done
echo "tests: $passed passed, $failed failed"
exit $status

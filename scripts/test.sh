#!/bin/sh
# Runs the busted suite on each interpreter given, against build/<lua>/, then prints one closing
# line for the whole run: "tests: N passed, N failed". Exits non-zero if any run failed.
cd "$(dirname "$0")/.."
passed=0 failed=0 status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for lua in "$@"; do
  echo "== busted on $lua"
  LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;" LUA_CPATH="./build/$lua/?.so;;" \
    "$lua" /usr/bin/busted -o utfTerminal spec 2>&1 | tee "$log"
  # busted's summary: "N successes / N failures / N errors / N pending : T seconds"
  summary=$(grep -E '^[0-9]+ success' "$log" | tail -n 1)
  if [ -z "$summary" ]; then
    echo "no busted summary for $lua"; status=1; failed=$((failed + 1)); continue
  fi
  ok=$(echo "$summary" | sed -E 's/^([0-9]+) success.*/\1/')
  bad=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures? \/ ([0-9]+) errors?.*/\1 \2/' | awk '{print $1 + $2}')
  passed=$((passed + ok)) failed=$((failed + bad))
  [ "$bad" -eq 0 ] || status=1
done
echo "tests: $passed passed, $failed failed"
exit $status

#!/bin/sh
# Draws bench/throughput.png (throughput against concurrency) from bench/out/concurrency.dat, written
# by bench/concurrency.lua: whitespace-separated columns, concurrency first, calls per second second,
# '#' comment lines. Installs gnuplot-nox from Debian when missing (benchmarks only, not `make test`).
set -e
DAT=bench/out/concurrency.dat
[ -f "$DAT" ] || { echo "plot: $DAT not found (run bench/concurrency.lua first)" >&2; exit 1; }
if ! command -v gnuplot >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends gnuplot-nox
fi
gnuplot bench/throughput.gp
echo "plot: wrote bench/throughput.png"

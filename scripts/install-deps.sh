#!/bin/sh
# Installs, from Debian's packages, everything the build, the tests and the demo need.
# Idempotent: does nothing when every package is already there. Needs root (or sudo) on Debian 12.
set -e
PKGS="make gcc pkg-config libcurl4-openssl-dev libssl-dev ca-certificates
lua5.1 lua5.2 lua5.3 lua5.4 liblua5.1-0-dev liblua5.2-dev liblua5.3-dev liblua5.4-dev
luajit2 libluajit2-5.1-dev lua-cjson lua-busted lua-socket lua-check lua-ldoc luarocks
nginx libnginx-mod-http-lua neovim"
PKGS="$PKGS openssl" # specs 12 and 15, featurebase.testing.start{tls = true}: test certificates
PKGS="$PKGS python3 curl" # spec 15: the recording proxy (spec/fixtures/connect_proxy.py); curl as the control
PKGS="$PKGS zip unzip" # make dist / check-rockspec: luarocks packs and unpacks .rock files with them
PKGS="$PKGS lua-curl" # make bench: the do-it-yourself baseline (bench/diy_lua_curl.lua, LuaJIT)
PKGS="$PKGS libnginx-mod-http-echo" # make bench-concurrency: echo_sleep, a 50 ms server without Lua
# `--check`: also what `make check`, `make check-memory` and `make fuzz` need (`make test` does not).
# libcurl4-doc: libcurl's symbol history, for `make check-oldcurl`.
[ "${1:-}" = "--check" ] && PKGS="$PKGS valgrind clang libclang-rt-14-dev libcurl4-doc"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing

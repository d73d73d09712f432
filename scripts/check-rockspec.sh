#!/bin/sh
# `make check-rockspec`: the install path users take, for Lua 5.1, 5.4 and LuaJIT.
#  1. The rockspecs list every C source and Lua module; the release rockspec is the scm one but for
#     version and source, and its source names the tarball `make dist` builds.
#  2. `make dist` (scripts/dist.sh): the source tarball and its `luarocks pack`ed .src.rock. The
#     tarball carries src/, lua/ and the docs users read, not specs, fuzz corpus or benchmarks.
#  3. `luarocks install` of that .src.rock, copied alone into an empty folder, into a fresh tree:
#     with no network at all (a network namespace without interfaces, when unshare works here), no
#     rock server (scripts/luarocks-offline.lua: lua-cjson counts as provided by Debian) and no
#     CURL_INCDIR (libcurl's header is found on Debian's multiarch path without help).
#  4. From a folder outside the checkout, with only that tree on the paths: the installed modules
#     load from the tree, and the installed featurebase.testing serves one real call of the
#     installed client; for LuaJIT, headless Neovim with the tree on package.path/cpath (what
#     rocks.nvim does) makes one more (scripts/installed-call.lua).
set -e
cd "$(dirname "$0")/.."
ROOT=$PWD
v=$(sed -n 's/^#define FB_VERSION "\(.*\)"$/\1/p' src/fb_version.h)
release=rockspecs/featurebase-$v-1.rockspec

# 1. what the rockspecs list
for c in src/*.c; do grep -q "\"$c\"" featurebase-scm-1.rockspec || { echo "featurebase-scm-1.rockspec misses $c"; exit 1; }; done
for f in $(find lua -name '*.lua' | sort); do
  m=$(echo "$f" | sed -e 's|^lua/||' -e 's|\.lua$||' -e 's|/|.|g')
  grep -qE "(\\[\"$m\"\\]|^    $m) = \"$f\"" featurebase-scm-1.rockspec ||
    { echo "featurebase-scm-1.rockspec does not install $f as $m"; exit 1; }
done
[ -f "$release" ] || { echo "$release is missing (the release rockspec of version $v)"; exit 1; }
strip_source() { sed -e '/^version = /d' -e '/^source = {/,/^}/d' -e '/^-- /d' "$1"; }
mkdir -p build
strip_source "$release" >build/rockspec-release.txt
strip_source featurebase-scm-1.rockspec >build/rockspec-scm.txt
diff -u build/rockspec-scm.txt build/rockspec-release.txt ||
  { echo "$release differs from featurebase-scm-1.rockspec beyond version and source"; exit 1; }
grep -qE "^  url = \".*/featurebase-$v\\.tar\\.gz\",$" "$release" &&
  grep -q "^  dir = \"featurebase-$v\",$" "$release" ||
  { echo "$release: source.url must name featurebase-$v.tar.gz and source.dir featurebase-$v"; exit 1; }

# 2. the release files
sh scripts/dist.sh
tarball=build/dist/featurebase-$v.tar.gz
rock=build/dist/featurebase-$v-1.src.rock
list=$(tar tzf "$tarball")
for need in src/fb_core.c src/fb_version.h lua/featurebase.lua lua/featurebase/testing.lua \
  lua/featurebase/testing/server.lua README.md "featurebase-$v-1.rockspec"; do
  echo "$list" | grep -qx "featurebase-$v/$need" || { echo "$tarball lacks $need"; exit 1; }
done
if echo "$list" | grep -E "^featurebase-$v/(spec|fuzz|bench|docs|build|scripts|\.ci)/"; then
  echo "$tarball carries files users do not need (above)"; exit 1
fi
echo "dist ok: $(echo "$list" | grep -vc '/$') files in $tarball"

# 3. and 4., per interpreter
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # nginx workers (nobody) read the installed featurebase.testing.server
cp "$rock" "$work/"
if unshare -n true 2>/dev/null; then offline="unshare -n"; how="no network (unshare -n)"
else offline=""; how="no rock server (unshare unavailable here)"; fi
export LUAROCKS_CONFIG="$ROOT/scripts/luarocks-offline.lua"
unset CURL_INCDIR CURL_DIR

install_and_call() { # lua-version tree-name interpreter [luarocks variables]
  lv=$1 tree="$work/$2" lua=$3; shift 3
  also=""; [ "$lua" = luajit ] && command -v nvim >/dev/null && also=nvim
  (cd "$work" && $offline luarocks --lua-version="$lv" --tree="$tree" install "./$(basename "$rock")" "$@" \
    >"$tree.log" 2>&1) || { cat "$tree.log"; echo "luarocks install failed for $lua"; exit 1; }
  if grep -q "CURL_INCDIR=\|-I/usr/include/x86_64-linux-gnu" "$tree.log"; then
    echo "the build was given libcurl's include folder"; exit 1
  fi
  (cd "$work" && LUA_PATH="$tree/share/lua/$lv/?.lua;$tree/share/lua/$lv/?/init.lua;;" \
    LUA_CPATH="$tree/lib/lua/$lv/?.so;;" "$lua" "$ROOT/scripts/installed-call.lua" "$tree" $also) ||
    { echo "the installed copy failed on $lua"; exit 1; }
}
echo "luarocks install of $(basename "$rock"): $how, no CURL_INCDIR"
install_and_call 5.1 lua51 lua5.1
install_and_call 5.4 lua54 lua5.4
install_and_call 5.1 luajit luajit LUA_INCDIR=/usr/include/luajit-2.1

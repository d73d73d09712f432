#!/bin/sh
# `luarocks make` offline for Lua 5.1, 5.4 and LuaJIT into a temporary tree, then load the result.
set -e
cd "$(dirname "$0")/.."
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
export LUAROCKS_CONFIG="$PWD/scripts/luarocks-offline.lua"
CURL="CURL_INCDIR=/usr/include/x86_64-linux-gnu"
run() { # lua-version tree-suffix interpreter [extra luarocks vars]
  v=$1 t="$tree/$2" lua=$3; shift 3
  luarocks --lua-version="$v" --tree="$t" make featurebase-scm-1.rockspec "$CURL" "$@" >"$t.log" 2>&1 ||
    { cat "$t.log"; exit 1; }
  LUA_PATH="$t/share/lua/$v/?.lua;;" LUA_CPATH="$t/lib/lua/$v/?.so;;" "$lua" -e '
    local fb = require("featurebase")
    assert(fb.new({ api_key = "k" }))
    -- every pure-Lua module the rockspec installs (openresty and nvim need their hosts)
    for f in io.popen("ls lua/featurebase/*.lua"):lines() do
      local name = f:match("lua/(.*)%.lua$"):gsub("/", ".")
      if name ~= "featurebase.openresty" and name ~= "featurebase.nvim" then require(name) end
    end
    io.write("luarocks make ok: ", (jit and jit.version or _VERSION), ", featurebase ", fb._VERSION, "\n")'
}
# Every C source is built by the rockspec, and the release rockspec is the scm one at its tag.
for c in src/*.c; do grep -q "\"$c\"" featurebase-scm-1.rockspec || { echo "rockspec misses $c"; exit 1; }; done
for r in rockspecs/*.rockspec; do
  sed -e 's/^version = .*/version = "scm-1"/' -e '/^  tag = /d' "$r" | diff -u featurebase-scm-1.rockspec - >/dev/null ||
    { echo "$r differs from featurebase-scm-1.rockspec beyond version and tag"; exit 1; }
done
run 5.1 lua51 lua5.1
run 5.4 lua54 lua5.4
run 5.1 luajit luajit LUA_INCDIR=/usr/include/luajit-2.1

#!/bin/sh
# The sources build against the oldest libcurl the README and the rockspecs claim (FB_CURL_MIN_VERSION
# in src/fb_curl.h), and at every version boundary a FB_CURL_VER_GE guard names.
#
# No package of that old libcurl exists on this machine, so this is a compile-only check with a shim
# header (scripts/oldcurl-shim.lua): the installed curl/curl.h with LIBCURL_VERSION_NUM forced to the
# old release and every symbol libcurl introduced after it poisoned, per curl's own symbol history.
# What it proves: every guard takes its fallback there, and no libcurl constant, option or function
# newer than that release is used outside a guard (a canary that uses curl_multi_poll must fail), and
# headers one release older stop the build with a message naming the floor.
# What it cannot prove: behaviour differences of the old library at run time, or types and struct
# fields that changed without a new symbol. Then the module built from the oldest release's view
# (its fallbacks: CURLOPT_PROTOCOLS, curl_multi_wait) runs the HTTP and async specs against the
# installed libcurl, which still has those older calls.
set -e
cd "$(dirname "$0")/.."
LUA=${OLDCURL_LUA:-lua5.4}
CC=${CC:-gcc}
WARN="-std=gnu99 -Wall -Wextra -Werror -fPIC -fvisibility=hidden"
min=$(sed -n 's/^#define FB_CURL_MIN_VERSION "\(.*\)"$/\1/p' src/fb_curl.h)
[ -n "$min" ] || { echo "no FB_CURL_MIN_VERSION in src/fb_curl.h"; exit 1; }
# the oldest release, then every boundary a guard names (FB_CURL_VER_GE(7, 66, 0) -> 7.66.0)
guards=$(grep -ohE 'FB_CURL_VER_GE\( *[0-9]+, *[0-9]+, *[0-9]+ *\)' src/*.c src/*.h |
  sed -E 's/[^0-9]+/ /g; s/^ //; s/ $//; s/ /./g' | sort -u -t. -k1,1n -k2,2n -k3,3n)
out=build/oldcurl
mkdir -p "$out"

for v in $min $guards; do
  inc="$out/$v"
  mkdir -p "$inc/curl" "$inc/obj"
  printf '%s: ' "$v"
  $LUA scripts/oldcurl-shim.lua "$v" "$inc/curl/curl.h"
  # the canary: a call libcurl added in 7.66.0 must not compile when the shim says older
  if [ "$(printf '%s\n' "$v" 7.66.0 | sort -t. -k1,1n -k2,2n -k3,3n | head -1)" != 7.66.0 ]; then
    printf '#include <curl/curl.h>\nint f(CURLM *m) { return (int)curl_multi_poll(m, NULL, 0, 1, NULL); }\n' >"$inc/canary.c"
    if $CC $WARN -I"$inc" -fsyntax-only "$inc/canary.c" 2>/dev/null; then
      echo "the $v shim let curl_multi_poll (7.66.0) through: the check proves nothing"; exit 1
    fi
  fi
  for c in src/*.c; do
    $CC $CFLAGS -O2 $WARN -I"$inc" $(pkg-config --cflags "$LUA") -c "$c" -o "$inc/obj/$(basename "$c" .c).o" ||
      { echo "src does not build against libcurl $v (see above)"; exit 1; }
  done
  echo "  every src/*.c compiles as libcurl $v sees it"
done

# Older than the floor, the build stops with a message naming it (src/fb_curl.h's #error).
below=$(echo "$min" | awk -F. '{ if ($3 > 0) printf "%d.%d.%d", $1, $2, $3 - 1; else printf "%d.%d.0", $1, $2 - 1 }')
mkdir -p "$out/$below/curl"
$LUA scripts/oldcurl-shim.lua "$below" "$out/$below/curl/curl.h" >/dev/null
if $CC $WARN -I"$out/$below" $(pkg-config --cflags "$LUA") -fsyntax-only src/fb_core.c 2>"$out/below.log" ||
  ! grep -q "featurebase needs libcurl $min or newer" "$out/below.log"; then
  cat "$out/below.log"; echo "libcurl $below headers did not stop the build with the libcurl $min message"; exit 1
fi
echo "$below: the build stops: featurebase needs libcurl $min or newer"

# For the record: the libcurl symbols src/ uses, newest first, with the release that introduced them.
$LUA scripts/oldcurl-shim.lua "$min" "$out/probe.h" "$out/symbols.txt" >/dev/null
grep -ohE '\b(curl_[a-z_]+|CURL[A-Z0-9_]*)\b' src/*.c src/*.h | sort -u >"$out/used.txt"
echo "libcurl symbols used by src/, newest first (those after $min are behind FB_CURL_VER_GE):"
awk 'NR == FNR { used[$1] = 1; next } ($1 in used) { print $2, $1 }' "$out/used.txt" "$out/symbols.txt" |
  sort -t. -k1,1nr -k2,2nr -k3,3nr | head -6 | sed 's/^/  /'

# The module as built for the oldest release, run against the installed libcurl.
so="$out/$min/$LUA/featurebase/core.so"
mkdir -p "$(dirname "$so")"
$CC ${CFLAGS:--O2 -g} $WARN -I"$out/$min" $(pkg-config --cflags "$LUA") -shared -o "$so" src/*.c \
  $(pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
echo "== the libcurl $min build (fallbacks: CURLOPT_PROTOCOLS, curl_multi_wait): HTTP and async specs on $LUA"
LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;" LUA_CPATH="./$out/$min/$LUA/?.so;;" \
  $LUA /usr/bin/busted -o utfTerminal spec/03-http_spec.lua spec/10-async_spec.lua

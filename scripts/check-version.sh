#!/bin/sh
# `make check-version`: the release version is written once, in src/fb_version.h, and the oldest
# libcurl once, in src/fb_curl.h; everything that has to repeat them agrees.
set -e
cd "$(dirname "$0")/.."
fail() { echo "check-version: $*"; exit 1; }

v=$(sed -n 's/^#define FB_VERSION "\([0-9]*\.[0-9]*\.[0-9]*\)"$/\1/p' src/fb_version.h)
[ -n "$v" ] || fail "src/fb_version.h has no '#define FB_VERSION \"X.Y.Z\"'"
# nowhere else defines it: not a C fallback, not a -D in the Makefile or a rockspec
others=$(grep -rlE '^#define FB_VERSION\b|FB_VERSION=' src Makefile featurebase-scm-1.rockspec rockspecs |
  grep -vx src/fb_version.h || true)
[ -z "$others" ] || fail "FB_VERSION is also defined in: $others"
grep -qE '^VERSION +:= *\$\(shell sed .*src/fb_version\.h\)' Makefile || fail "the Makefile must read VERSION from src/fb_version.h"
# no copy of the version string in the code (Lua reads it as featurebase._VERSION, from the C core)
copies=$(grep -rnF "\"$v\"" src lua | grep -v '^src/fb_version.h:' || true)
[ -z "$copies" ] || fail "the version is written again in: $copies"

release=rockspecs/featurebase-$v-1.rockspec
[ -f "$release" ] || fail "$release is missing"
grep -qx "version = \"$v-1\"" "$release" || fail "$release: version is not \"$v-1\""
grep -qE "^  url = \".*/featurebase-$v\\.tar\\.gz\",$" "$release" || fail "$release: source.url does not name featurebase-$v.tar.gz"
head -20 CHANGELOG.md | grep -m1 '^## ' | grep -q "^## $v\b" || fail "CHANGELOG.md: the newest entry is not ## $v"

min=$(sed -n 's/^#define FB_CURL_MIN_VERSION "\(.*\)"$/\1/p' src/fb_curl.h)
num=$(sed -n 's/^#define FB_CURL_MIN_VERSION_NUM \(0x[0-9A-Fa-f]*\)$/\1/p' src/fb_curl.h)
[ -n "$min" ] && [ -n "$num" ] || fail "src/fb_curl.h: FB_CURL_MIN_VERSION or FB_CURL_MIN_VERSION_NUM missing"
want=$(echo "$min" | awk -F. '{ printf "%d", $1 * 65536 + $2 * 256 + $3 }')
[ "$((num))" = "$want" ] || fail "src/fb_curl.h: FB_CURL_MIN_VERSION_NUM $num is not $min"
grep -q "#error \"featurebase needs libcurl $min or newer" src/fb_curl.h || fail "src/fb_curl.h: the #error does not say $min"
for f in featurebase-scm-1.rockspec "$release"; do
  grep -q "libcurl $min or newer" "$f" && grep -q "libcurl >= $min" "$f" || fail "$f does not state libcurl $min"
done
grep -q "libcurl $min or newer" README.md || fail "README.md does not state libcurl $min or newer"
echo "version $v (src/fb_version.h), oldest libcurl $min (src/fb_curl.h): rockspecs, CHANGELOG and README agree"

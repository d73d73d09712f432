#!/bin/sh
# `make dist`: the release, in build/dist/:
#   featurebase-<version>.tar.gz      the source users need: src/, lua/ (featurebase.testing included:
#                                     it is public API), examples/, README, CHANGELOG, LICENSE when
#                                     present, and the release rockspec; no specs, fuzz corpus,
#                                     benchmarks or generated docs
#   featurebase-<version>-1.src.rock  `luarocks pack` of rockspecs/featurebase-<version>-1.rockspec:
#                                     that rockspec and the tarball, installable with no network
# The version is src/fb_version.h's. The tarball is reproducible: sorted names, owner 0, the mtime of
# the last commit (SOURCE_DATE_EPOCH overrides), gzip without a timestamp.
set -e
cd "$(dirname "$0")/.."
v=$(sed -n 's/^#define FB_VERSION "\(.*\)"$/\1/p' src/fb_version.h)
[ -n "$v" ] || { echo "dist: no FB_VERSION in src/fb_version.h"; exit 1; }
rockspec=rockspecs/featurebase-$v-1.rockspec
[ -f "$rockspec" ] || { echo "dist: $rockspec is missing (the release rockspec of version $v)"; exit 1; }
out=build/dist
name=featurebase-$v
rm -rf "$out/$name" "$out/$name.tar.gz" "$out/$name-1.src.rock"
mkdir -p "$out/$name"

cp -R src lua examples "$out/$name/"
cp README.md CHANGELOG.md "$rockspec" "$out/$name/"
[ -f LICENSE ] && cp LICENSE "$out/$name/"
# nothing built or left by a run (logs of the OpenResty example, editor files)
find "$out/$name" \( -name '*.o' -o -name '*.so' -o -name '*~' -o -name '.*.swp' -o -name logs \) -prune \
  -exec rm -rf {} +

epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
(cd "$out" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - "$name" |
  gzip -n -9 >"$name.tar.gz")
rm -rf "$out/$name"

# The .src.rock: `luarocks pack` fetches source.url, and takes a local file only through an absolute
# file:// URL (a relative one it resolves inside its own temporary folder). So it packs a copy of the
# rockspec that names the tarball so; then the released rockspec replaces that copy inside the rock:
# the result is what `luarocks pack` makes of the released rockspec once the tarball is published.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/file" "$stage/released"
cp "$out/$name.tar.gz" "$stage/file/"
sed "s|^  url = .*|  url = \"file://$stage/file/$name.tar.gz\",|" "$rockspec" >"$stage/file/$name-1.rockspec"
grep -q "file://$stage/" "$stage/file/$name-1.rockspec" || { echo "dist: no source.url line in $rockspec"; exit 1; }
(cd "$out" && LUAROCKS_CONFIG="$PWD/../../scripts/luarocks-offline.lua" luarocks pack "$stage/file/$name-1.rockspec" \
  >"$stage/pack.log" 2>&1) || { cat "$stage/pack.log"; exit 1; }
cp "$rockspec" "$stage/released/"
zip -q -j "$out/$name-1.src.rock" "$stage/released/$name-1.rockspec"
echo "dist: $out/$name.tar.gz ($(wc -c <"$out/$name.tar.gz") bytes), $out/$name-1.src.rock"

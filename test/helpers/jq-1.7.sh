#!/bin/sh
# Prints the path of a jq 1.7.1 binary, the reference the jq conformance test compares Wharf's
# filters with. Debian bookworm packages jq 1.6, and trixie's jq 1.7.1 package needs a newer libc,
# so this builds jq 1.7.1 from Debian's source tarball (checked by its sha256) into a cache, once.
# Needs gcc, make, autoconf, automake, libtool and libonig-dev (.ci/run installs them) and curl.
# The tarball comes from the Debian mirror this machine's apt is set up with.
set -eu
version=1.7.1
sha256=fc75b1824aba7a954ef0886371d951c3bf4b6e0a921d1aefc553f309702d6ed1
cache="${WHARF_JQ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wharf/jq-$version}"
bin="$cache/jq"

works() { [ -x "$1" ] && [ "$("$1" -nc '{a:1,b:2} | pick(.a)' 2>/dev/null)" = '{"a":1}' ]; }

if works "$bin"; then echo "$bin"; exit 0; fi

mirror="${WHARF_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
fi
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\/debian\)\/\{0,1\} .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
fi
[ -n "$mirror" ] || { echo "jq-1.7.sh: no Debian mirror in apt's sources; set WHARF_DEBIAN_MIRROR" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL -o "$work/jq.tar.gz" "$mirror/pool/main/j/jq/jq_$version.orig.tar.gz"
echo "$sha256  $work/jq.tar.gz" | sha256sum -c - >&2
tar -xzf "$work/jq.tar.gz" -C "$work"
cd "$work/jq-jq-$version"
{
  autoreconf -i
  ./configure --with-oniguruma=yes --disable-docs --disable-maintainer-mode --disable-shared --enable-static
  make -j"$(nproc 2>/dev/null || echo 2)"
} >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; exit 1; }
mkdir -p "$cache"
cp jq "$cache/jq.new"
mv "$cache/jq.new" "$bin"
works "$bin" || { echo "jq-1.7.sh: the jq built does not behave as jq $version" >&2; exit 1; }
echo "$bin"

#!/bin/sh
# Installs what lifecycle/ needs beyond scripts/setup's packages, idempotently; quick (no apt,
# no download) when it is already there. scripts/setup calls it.
#
# cpp-httplib: credhub interpolation needs an HTTPS client with client certificates that links
# fully static. Debian 12's libcpp-httplib-dev is the split build (a .so), and libcurl.a needs
# GSSAPI/LDAP libraries that have no static archives, so we take the single header from Debian
# trixie's source package (with Debian's CVE fixes applied by dpkg-source) and install it under
# /opt/hatch. lifecycle/CMakeLists.txt looks for it at HATCH_CPP_HTTPLIB_PREFIX.
set -eu

CPP_HTTPLIB_VERSION=0.18.7-1+deb13u1
CPP_HTTPLIB_PREFIX=${HATCH_CPP_HTTPLIB_PREFIX:-/opt/hatch/cpp-httplib-$CPP_HTTPLIB_VERSION}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

[ -f "$CPP_HTTPLIB_PREFIX/include/httplib.h" ] && exit 0

if [ ! -f /etc/apt/sources.list.d/hatch-trixie-src.sources ]; then
  as_root sh -c 'cat > /etc/apt/sources.list.d/hatch-trixie-src.sources' <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  as_root apt-get update -qq
fi
command -v dpkg-source >/dev/null 2>&1 ||
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null

echo "setup: installing cpp-httplib $CPP_HTTPLIB_VERSION (single header) into $CPP_HTTPLIB_PREFIX"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  # apt checks the .dsc against the signed Sources index; dpkg-source checks every file named
  # in the .dsc against its checksums, then applies Debian's patches (the CVE fixes).
  if ! apt-get source --download-only -qq "cpp-httplib=$CPP_HTTPLIB_VERSION" >/dev/null 2>&1; then
    as_root apt-get update -qq
    apt-get source --download-only -qq "cpp-httplib=$CPP_HTTPLIB_VERSION" >/dev/null 2>&1
  fi
  dpkg-source --require-strong-checksums -x "cpp-httplib_$CPP_HTTPLIB_VERSION.dsc" src >/dev/null 2>&1
  as_root install -D -m 0644 src/httplib.h "$CPP_HTTPLIB_PREFIX/include/httplib.h"
  as_root install -D -m 0644 src/LICENSE "$CPP_HTTPLIB_PREFIX/share/LICENSE"
)

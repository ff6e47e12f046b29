#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what building and testing guest RAS needs on Debian 12.
# Run as root; idempotent.  Without root it only prints what is missing.
set -eu

BUILD_PKGS="build-essential ninja-build libglib2.0-dev libfdt-dev libpixman-1-dev
zlib1g-dev acpica-tools python3-venv pkg-config flex bison ccache dpkg-dev
xz-utils git"
# gdb: a guest storm that stops short prints QEMU's threads' stacks;
# libvirt: the guest tests that run QEMU as operators do (Debian 12's)
GUEST_PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross cpio seabios gdb
libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"
# Cross-compiling the arm64 KVM code (it cannot build natively on x86).
# libfdt-dev cannot be installed for two architectures at once: the test
# unpacks the arm64 one privately (tests/ras/check-arm-kvm-build).
CROSS_PKGS="libglib2.0-dev:arm64 libfdt1:arm64 libpixman-1-dev:arm64
zlib1g-dev:arm64"
BACKPORT_PKGS="meson python3-pycotap"

missing=""
for p in $BUILD_PKGS $GUEST_PKGS $CROSS_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
need_meson=1
if command -v meson >/dev/null 2>&1; then
    v=$(meson --version)
    case "$v" in
    0.*|1.[0-4].*) ;;
    *) need_meson=0 ;;
    esac
fi
need_src=1
grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/ && need_src=0
need_arm64=1
dpkg --print-foreign-architectures | grep -qx arm64 && need_arm64=0

if [ -z "$missing" ] && [ $need_meson = 0 ] && [ $need_src = 0 ] &&
   [ $need_arm64 = 0 ]; then
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "Missing build dependencies (run this script as root to install):" >&2
    [ -n "$missing" ] && echo "  apt-get install$missing" >&2
    [ $need_meson = 1 ] && echo "  meson >= 1.5 (bookworm-backports: apt-get install -t bookworm-backports $BACKPORT_PKGS)" >&2
    [ $need_src = 1 ] && echo "  a deb-src entry for the Debian archive (bookworm trixie sid)" >&2
    [ $need_arm64 = 1 ] && echo "  dpkg --add-architecture arm64" >&2
    exit 1
fi

# The archive URI is whatever the machine's own deb stanza uses.
uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null |
      head -n 1 | awk '{print $2}')
if [ -z "$uri" ]; then
    uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | grep -v security |
          head -n 1 | awk '{print $2}')
fi
[ -n "$uri" ] || { echo "cannot find the Debian archive URI" >&2; exit 1; }

f=/etc/apt/sources.list.d/guest-ras.sources
if [ ! -f "$f" ]; then
    cat > "$f" <<SRC
Types: deb-src
URIs: $uri
Suites: bookworm trixie sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
[ $need_arm64 = 1 ] && dpkg --add-architecture arm64
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $BUILD_PKGS $GUEST_PKGS
apt-get install -y -q --no-install-recommends $CROSS_PKGS
apt-get install -y -q --no-install-recommends -t bookworm-backports $BACKPORT_PKGS

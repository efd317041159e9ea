#!/bin/sh
# Installs wbackup for the current user: the binary into ~/.local/bin (built with cargo
# unless WBACKUP_BIN names one), the menu entry and the icon, so "wbackup" appears in the
# desktop's application menu. Nothing outside the home directory is touched.
set -eu
cd "$(dirname "$0")/.."
data=${XDG_DATA_HOME:-$HOME/.local/share}
bin_dir=$HOME/.local/bin
if [ -z "${WBACKUP_BIN:-}" ]; then
    cargo build --release --quiet
    WBACKUP_BIN=${CARGO_TARGET_DIR:-target}/release/wbackup
fi
install -d "$bin_dir" "$data/applications" "$data/icons/hicolor/scalable/apps"
install -m 755 "$WBACKUP_BIN" "$bin_dir/wbackup"
# The menu entry runs the installed binary by its full path: ~/.local/bin may not be on
# the PATH the desktop session started with.
sed "s|^Exec=wbackup|Exec=$bin_dir/wbackup|" assets/wbackup.desktop \
    > "$data/applications/wbackup.desktop"
chmod 644 "$data/applications/wbackup.desktop"
install -m 644 assets/wbackup.svg "$data/icons/hicolor/scalable/apps/wbackup.svg"
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$data/applications" || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
fi
echo "installed $bin_dir/wbackup, $data/applications/wbackup.desktop and its icon"

#!/usr/bin/env bash
# Builds the Debian package (scripts/deb.sh), installs it with dpkg -i and checks the
# installed program as a user would meet it: `wbackup --version` names this commit,
# `man wbackup` shows the page, bash completes `wbackup pl` to `plan`. The package is
# removed again at the end unless it was installed before. The binary packaged is
# $WBACKUP_BIN when set (test.sh passes the one its tests built), else a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
fail() { echo "check-deb: $*" >&2; exit 1; }

deb=$(scripts/deb.sh)
echo "check-deb: built $deb"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libc6 libqt6core6 restic rsync openssh-client qml6-module-qtquick-controls libqt6svg6; do
    grep -Eq "(^|, *)$dep( |,|$)" <<<"$depends" || fail "Depends lacks $dep: $depends"
done

if ! dpkg-query -W -f='${Status}' wbackup 2>/dev/null | grep -q "install ok installed"; then
    trap '$SUDO dpkg -r wbackup >/dev/null' EXIT
fi
$SUDO dpkg -i "$deb" >/dev/null

expected="wbackup $(dpkg-deb -f "$deb" Version) ($(git rev-parse --short HEAD))"
got=$(/usr/bin/wbackup --version)
[ "$got" = "$expected" ] || fail "wbackup --version said '$got', expected '$expected'"
echo "check-deb: $got"

[ "$(man -w wbackup)" = /usr/share/man/man1/wbackup.1.gz ] ||
    fail "man finds '$(man -w wbackup)', not /usr/share/man/man1/wbackup.1.gz"
page=$(MANPAGER=cat MANWIDTH=100 man wbackup 2>/dev/null)
for word in NAME SYNOPSIS plan run status verify doctor restore init; do
    grep -qw -- "$word" <<<"$page" || fail "man wbackup does not mention $word"
done
grep -q generate-assets <<<"$page" && fail "man wbackup shows the hidden generate-assets"
MANPAGER=cat MANWIDTH=100 man wbackup-restore 2>/dev/null | grep -q -- --snapshot ||
    fail "man wbackup-restore does not show --snapshot"
echo "check-deb: man wbackup and man wbackup-restore show their pages"

# What bash does on Tab after "wbackup pl": the function the completion file registers
# for wbackup, called with the words typed so far.
replies=$(bash -c '
    source /usr/share/bash-completion/completions/wbackup
    fn=$(complete -p wbackup | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
    [ -n "$fn" ] || { echo "no completion function registered for wbackup" >&2; exit 1; }
    COMP_WORDS=(wbackup pl); COMP_CWORD=1; COMP_LINE="wbackup pl"; COMP_POINT=${#COMP_LINE}
    "$fn" wbackup pl wbackup
    printf "%s\n" "${COMPREPLY[@]}"
')
[ "$replies" = plan ] || fail "bash completes 'wbackup pl' to '$replies', expected 'plan'"
for f in /usr/share/zsh/vendor-completions/_wbackup /usr/share/fish/vendor_completions.d/wbackup.fish \
    /usr/share/applications/wbackup.desktop /usr/share/icons/hicolor/scalable/apps/wbackup.svg \
    /usr/share/doc/wbackup/copyright; do
    [ -s "$f" ] || fail "$f is missing from the installed package"
done
echo "check-deb: bash completes 'wbackup pl' to plan; the package is sound"

#!/usr/bin/env bash
# Make sure a Chromium the browser tests (Playwright for Python) and kaleido's image export can
# drive is installed: Debian's chromium package, never a browser downloaded by Playwright.
# Sourced by scripts/test.sh (exports MSCABM_CHROMIUM); can also be run on its own.
# Set MSCABM_CHROMIUM=/path/to/chromium to use another build; MSCABM_NO_BROWSER_INSTALL=1 to
# only look, not install (the browser tests then fail under CI=true, or skip outside CI).
set -euo pipefail

find_chromium() {
    local candidate
    for candidate in "${MSCABM_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser \
        "$(command -v chromium 2>/dev/null || true)" "$(command -v chromium-browser 2>/dev/null || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if ! CHROMIUM="$(find_chromium)"; then
    if [ "${MSCABM_NO_BROWSER_INSTALL:-0}" = "1" ]; then
        echo "mscabm: no Chromium found and MSCABM_NO_BROWSER_INSTALL=1: browser tests cannot run" >&2
    elif ! command -v apt-get >/dev/null 2>&1; then
        echo "mscabm: no Chromium found and no apt-get to install it; install Chromium and set" >&2
        echo "MSCABM_CHROMIUM=/path/to/chromium (the browser tests need it)" >&2
        [ "${CI:-}" = "true" ] && exit 2
    else
        SUDO=""
        if [ "$(id -u)" != "0" ]; then
            if command -v sudo >/dev/null 2>&1; then
                SUDO="sudo"
            else
                echo "mscabm: no Chromium found; installing it needs root (no sudo here):" >&2
                echo "  apt-get install -y chromium" >&2
                [ "${CI:-}" = "true" ] && exit 2
            fi
        fi
        if [ "$(id -u)" = "0" ] || [ -n "$SUDO" ]; then
            echo "mscabm: installing Debian's chromium for the browser tests (apt-get install chromium)"
            if ! { $SUDO apt-get install -y -q chromium >/dev/null ||
                   { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }; }; then
                echo "mscabm: 'apt-get install chromium' failed; the browser tests need Chromium" >&2
                [ "${CI:-}" = "true" ] && exit 2
            fi
        fi
    fi
    CHROMIUM="$(find_chromium || true)"
fi
if [ -n "${CHROMIUM:-}" ]; then
    export MSCABM_CHROMIUM="$CHROMIUM"
    echo "mscabm: browser tests use $CHROMIUM"
elif [ "${CI:-}" = "true" ]; then
    echo "mscabm: no Chromium after trying to install it; CI=true needs the browser tests" >&2
    exit 2
fi

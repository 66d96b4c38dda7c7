#!/usr/bin/env bash
# Installs what the console's browser tests drive: Debian's chromium and chromium-driver
# (/usr/bin/chromium, /usr/bin/chromedriver), when missing. Needs root or sudo (apt-get).
set -euo pipefail
if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    exit 0
fi
echo "== installing chromium and chromium-driver (Debian packages, for the console's browser tests)"
as_root=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "browser.sh: need root or sudo to apt-get install chromium chromium-driver" >&2; exit 1; }
    as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version

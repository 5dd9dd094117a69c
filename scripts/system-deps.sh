#!/usr/bin/env bash
# Installs the Debian packages the browser tests and the kiosk screen need, when missing.
set -euo pipefail
need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
# Not grep -q: it stops reading early, and under pipefail the SIGPIPE fails the pipeline.
fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null || need+=(fonts-noto-cjk)
command -v Xvfb >/dev/null || need+=(xvfb)
((${#need[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "system-deps: missing ${need[*]} (run as root: apt-get install ${need[*]}); browser tests will be skipped" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null

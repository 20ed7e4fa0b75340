#!/usr/bin/env bash
# `make run`: serves with proxy.conf.example (embedded CA, LMDB in ./data)
# in the foreground. ACMEPROXY_CONF picks another config.
set -euo pipefail
cd "$(dirname "$0")/.."
conf=${ACMEPROXY_CONF:-proxy.conf.example}
echo "acmeproxy: starting with $conf (Ctrl-C stops)"
exec build/acmeproxy -c "$conf"

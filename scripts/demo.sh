#!/usr/bin/env bash
# Installs what is missing (Prosody, from Debian's packages) and runs the
# built-in demo: a throwaway local Prosody, two accounts, and the whole
# background / suspend / dead socket / resume story, with a timeline and a
# summary. Extra arguments go to "xmppbg demo" (e.g. --svg timeline.svg).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec go run ./cmd/xmppbg demo "$@"

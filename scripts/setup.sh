#!/usr/bin/env bash
# Installs what xmppbg's demo and tests need and a fresh Debian 12 machine
# lacks: the Prosody XMPP server (Debian's package; only the binary is used:
# tests and the demo start their own throwaway instances on free loopback
# ports). Go itself is a prerequisite (see README.md).
set -euo pipefail

if ! command -v go >/dev/null 2>&1; then
	echo "setup: Go is not installed; install Go 1.26 or newer first (see README.md)" >&2
	exit 1
fi

if ! command -v prosody >/dev/null 2>&1; then
	echo "setup: installing prosody (apt-get)" >&2
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		SUDO="sudo"
	fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prosody >/dev/null
fi

# ejabberd, the second real server of the integration tests (Debian's package;
# internal/ejabberd runs erl on it directly, on free loopback ports). Where
# the package starts its system service, that service is stopped and disabled:
# nothing should hold port 5222.
if [ ! -x /usr/sbin/ejabberdctl ]; then
	echo "setup: installing ejabberd (apt-get)" >&2
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		SUDO="sudo"
	fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ejabberd >/dev/null
	# Only when it runs: `service ejabberd stop` on a stopped server starts
	# an epmd daemon.
	if [ -d /run/systemd/system ]; then
		$SUDO systemctl disable --now ejabberd >/dev/null 2>&1 || true
	elif [ -s /run/ejabberd/ejabberd.pid ]; then
		$SUDO service ejabberd stop >/dev/null 2>&1 || true
	fi
fi

# tmux, for the test of the interactive chat on a real terminal
# (cmd/xmppbg: it runs the chat in a tmux pane; under CI=true a missing tmux
# fails that test instead of skipping it).
if ! command -v tmux >/dev/null 2>&1; then
	echo "setup: installing tmux (apt-get)" >&2
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		SUDO="sudo"
	fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tmux >/dev/null
fi

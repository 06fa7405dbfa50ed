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

# Root runs apt-get itself; anyone else through sudo.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

# apt_install PKG installs one of Debian's packages, saying so.
apt_install() {
	echo "setup: installing $1 (apt-get)" >&2
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$1" >/dev/null
}

if ! command -v prosody >/dev/null 2>&1; then
	apt_install prosody
fi

# ejabberd, the second real server of the integration tests (Debian's package;
# internal/ejabberd runs erl on it directly, on free loopback ports). Where
# the package starts its system service, that service is stopped and disabled:
# nothing should hold port 5222.
if [ ! -x /usr/sbin/ejabberdctl ]; then
	apt_install ejabberd
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
	apt_install tmux
fi

# The modern servers (SASL2, Bind2, FAST, inline resumption): Prosody 13 with
# prosody-modules' sasl2* and sasl_ssdp, and ejabberd 24.12, both from
# Debian's bookworm-backports. They are extracted (apt-get download +
# dpkg-deb -x) into a private directory and never installed: Debian's
# Prosody 0.12 and ejabberd 23.01 stay the system's. internal/prosody and
# internal/ejabberd (Options.Version) and `xmppbg server --prosody 13` find
# them there:
#
#   $XMPPBG_SERVERS_DIR (default /opt/xmppbg/servers)
#     prosody-13/root/      prosody + prosody-modules, extracted
#     prosody-13/bin/       prosody, prosodyctl: the launchers with CFG_*
#                           pointing into root/ (as shipped they would run
#                           /usr/lib/prosody, the 0.12 code)
#     ejabberd-24.12/root/  ejabberd + its backported Erlang libraries
#     ejabberd-24.12/libs   the ERL_LIBS to run it with (one line)
#     .installed            marker: what was extracted; present = done
#
# Set XMPPBG_SKIP_MODERN=1 to skip this part.
SERVERS_DIR="${XMPPBG_SERVERS_DIR:-/opt/xmppbg/servers}"
BACKPORTS_MARKER_VERSION="xmppbg-backports 1"
codename="$( (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true)"
if [ "${XMPPBG_SKIP_MODERN:-}" = 1 ] ||
	[ "$(head -n1 "$SERVERS_DIR/.installed" 2>/dev/null)" = "$BACKPORTS_MARKER_VERSION" ]; then
	: # skipped, or done already
elif [ "$codename" != bookworm ]; then
	echo "setup: not Debian 12 (bookworm): Prosody 13 and ejabberd 24.12 are not extracted; their integration tests skip (fail under CI=true)" >&2
else
	echo "setup: extracting Prosody 13 and ejabberd 24.12 from bookworm-backports into $SERVERS_DIR" >&2
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' \
			'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
			$SUDO tee /etc/apt/sources.list.d/xmppbg-backports.sources >/dev/null
		$SUDO apt-get update -qq
	elif ! apt-cache madison prosody | grep -q bookworm-backports; then
		$SUDO apt-get update -qq
	fi
	# What runs them comes from bookworm (lua5.4-*, Erlang 25: installed
	# with the stable servers above).
	bpo() { apt-cache madison "$1" | awk -v p="$1" '$0 ~ /bookworm-backports/ {print p"="$3; exit}'; }
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work/prosody" "$work/ejabberd"
	# apt-get download runs as the _apt user when it can write there.
	chmod 755 "$work"
	if [ "$(id -u)" -eq 0 ]; then chown _apt "$work/prosody" "$work/ejabberd" 2>/dev/null || true; fi
	(cd "$work/prosody" && apt-get download -qq "$(bpo prosody)" "$(bpo prosody-modules)")
	# ejabberd and those of its Erlang dependencies that backports has newer
	# (erlang-jose, erlang-p1-*: 15 of them for 24.12).
	ejpkgs="$(bpo ejabberd)"
	for dep in $(apt-cache show "$ejpkgs" | sed -n 's/^Depends: //p' | tr ',' '\n' | sed 's/^ *//; s/[ (|].*//' | grep '^erlang-'); do
		v="$(bpo "$dep")"
		if [ -n "$v" ]; then ejpkgs="$ejpkgs $v"; fi
	done
	# shellcheck disable=SC2086
	(cd "$work/ejabberd" && apt-get download -qq $ejpkgs)
	$SUDO mkdir -p "$SERVERS_DIR"
	stage="$(mktemp -d "$work/stage.XXXX")"
	for d in prosody ejabberd; do
		mkdir -p "$stage/$d/root"
		for deb in "$work/$d"/*.deb; do
			dpkg-deb -x "$deb" "$stage/$d/root"
		done
	done
	p="$stage/prosody"
	mkdir -p "$p/bin"
	final_p="$SERVERS_DIR/prosody-13/root"
	for l in prosody prosodyctl; do
		sed -e "s|^CFG_SOURCEDIR=.*|CFG_SOURCEDIR='$final_p/usr/lib/prosody';|" \
			-e "s|^CFG_CONFIGDIR=.*|CFG_CONFIGDIR='$final_p/etc/prosody';|" \
			-e "s|^CFG_PLUGINDIR=.*|CFG_PLUGINDIR='$final_p/usr/lib/prosody/modules/';|" \
			-e "s|^CFG_DATADIR=.*|CFG_DATADIR='$final_p/var/lib/prosody';|" \
			"$p/root/usr/bin/$l" >"$p/bin/$l"
		chmod 755 "$p/bin/$l"
		grep -q "^CFG_SOURCEDIR='$final_p" "$p/bin/$l" || {
			echo "setup: $l: CFG_SOURCEDIR not found in the launcher" >&2
			exit 1
		}
	done
	# Debian's prosody-modules puts its modules beside Prosody's own
	# (CFG_PLUGINDIR): nothing else to configure.
	if [ ! -f "$p/root/usr/lib/prosody/modules/mod_sasl2_fast/mod_sasl2_fast.lua" ]; then
		echo "setup: prosody-modules has no mod_sasl2_fast" >&2
		exit 1
	fi
	e="$stage/ejabberd"
	final_e="$SERVERS_DIR/ejabberd-24.12/root"
	# usr/lib/<multiarch>/ejabberd-24.12: the ejabberd application.
	ejapp="$(cd "$e/root" && ls -d usr/lib/*/ejabberd-24.12 2>/dev/null | head -n1)"
	if [ -z "$ejapp" ]; then
		echo "setup: no usr/lib/*/ejabberd-24.12 in the ejabberd package" >&2
		exit 1
	fi
	echo "$final_e/$(dirname "$ejapp"):$final_e/usr/lib/erlang/lib" >"$e/libs"
	# Copied beside, then swapped in: the window without a tree is two
	# renames long.
	for pair in "$p:prosody-13" "$e:ejabberd-24.12"; do
		src="${pair%%:*}" dst="$SERVERS_DIR/${pair#*:}"
		$SUDO rm -rf "$dst.new" "$dst.old"
		$SUDO cp -a "$src" "$dst.new"
		if [ -e "$dst" ]; then $SUDO mv "$dst" "$dst.old"; fi
		$SUDO mv "$dst.new" "$dst"
		$SUDO rm -rf "$dst.old"
	done
	{
		echo "$BACKPORTS_MARKER_VERSION"
		(cd "$work" && ls prosody ejabberd | grep '\.deb$')
	} | $SUDO tee "$SERVERS_DIR/.installed" >/dev/null
	rm -rf "$work"
	trap - EXIT
fi

# nftables, for the kernel-level fault tests (internal/netlab): they make a
# private network namespace and drop or reset its established TCP flows
# with nft rules. Root only; under CI=true they fail without it.
if ! command -v nft >/dev/null 2>&1; then
	apt_install nftables
fi

package prosody

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Versions of Prosody that Start can run (Options.Version).
const (
	// Version012 is Debian 12's Prosody 0.12 (apt-get install -y prosody),
	// found on PATH. It is the default.
	Version012 = "0.12"
	// Version13 is Prosody 13 with prosody-modules' SASL2, Bind2, FAST,
	// sasl2_sm and sasl_ssdp, from Debian's bookworm-backports, extracted by
	// scripts/setup.sh under ServersDir (see Install).
	Version13 = "13"
)

// DefaultServersDir is where scripts/setup.sh extracts the modern servers
// (Prosody 13, ejabberd 24.12) when XMPPBG_SERVERS_DIR is not set.
const DefaultServersDir = "/opt/xmppbg/servers"

// ServersDir is the directory scripts/setup.sh extracted the modern servers
// into: $XMPPBG_SERVERS_DIR, or DefaultServersDir. (The variable is the
// set-up script's, read by the binary and the tests alike; it never
// reaches the server's configuration.)
func ServersDir() string {
	if d := os.Getenv("XMPPBG_SERVERS_DIR"); d != "" {
		return d
	}
	return DefaultServersDir
}

// ErrNotInstalled is returned (wrapped, with how to install it) when the
// asked for Prosody is not installed.
var ErrNotInstalled = errors.New("prosody: not installed")

// Install is where one Prosody version's launchers are.
type Install struct {
	// Version is Version012 or Version13.
	Version string
	// Prosody and Prosodyctl are the launchers. Prosody 13's are the
	// copies scripts/setup.sh wrote, whose CFG_* paths point into its
	// private tree (the packaged ones would run /usr/lib/prosody, the
	// 0.12 code).
	Prosody, Prosodyctl string
}

// Modern reports whether this Prosody offers SASL2, Bind2 and FAST (with
// the modules the config loads).
func (i Install) Modern() bool { return i.Version == Version13 }

// Find locates the given version ("" is Version012). The error wraps
// ErrNotInstalled and says how to install it.
func Find(version string) (Install, error) {
	switch version {
	case "", Version012:
		inst := Install{Version: Version012}
		var err error
		if inst.Prosody, err = exec.LookPath("prosody"); err == nil {
			inst.Prosodyctl, err = exec.LookPath("prosodyctl")
		}
		if err != nil {
			return inst, fmt.Errorf("%w: %w (install it with apt-get install -y prosody, or scripts/setup.sh)", ErrNotInstalled, err)
		}
		return inst, nil
	case Version13:
		bin := filepath.Join(ServersDir(), "prosody-13", "bin")
		inst := Install{Version: Version13, Prosody: filepath.Join(bin, "prosody"), Prosodyctl: filepath.Join(bin, "prosodyctl")}
		for _, f := range []string{inst.Prosody, inst.Prosodyctl} {
			if _, err := os.Stat(f); err != nil {
				return inst, fmt.Errorf("%w: Prosody 13: %s is missing: run scripts/setup.sh, which extracts it from Debian's bookworm-backports into %s (XMPPBG_SERVERS_DIR)", ErrNotInstalled, f, ServersDir())
			}
		}
		return inst, nil
	default:
		return Install{}, fmt.Errorf("prosody: Version %q: want %q or %q", version, Version012, Version13)
	}
}

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xmppbg/xmppbg/internal/prosody"
)

// EnvServers selects the servers Each runs on (see the package doc).
const EnvServers = "XMPPBG_TEST_SERVERS"

// Environment variables that attach the tests to a running Prosody (see the
// package doc).
const (
	EnvServer      = "XMPPBG_TEST_SERVER"
	EnvDomain      = "XMPPBG_TEST_DOMAIN"
	EnvCAFile      = "XMPPBG_TEST_CA_FILE"
	EnvHibernation = "XMPPBG_TEST_HIBERNATION"
	EnvProsodyctl  = "XMPPBG_TEST_PROSODYCTL"
)

// Attached reports whether XMPPBG_TEST_SERVER is set: the tests then use
// that server instead of starting a local Prosody.
func Attached() bool { return os.Getenv(EnvServer) != "" }

// attachedProsody describes the server named by XMPPBG_TEST_SERVER; ok is
// false when it is not set.
func attachedProsody() (r prosody.Remote, ok bool, err error) {
	r.Addr = os.Getenv(EnvServer)
	if r.Addr == "" {
		return r, false, nil
	}
	r.Domain = os.Getenv(EnvDomain)
	r.CAFile = os.Getenv(EnvCAFile)
	if r.CAFile == "" {
		return r, true, fmt.Errorf("%s is set but %s is not: name the PEM certificate clients should trust (e.g. testdata/certs/cert.pem)", EnvServer, EnvCAFile)
	}
	r.CAFile = resolveFromModuleRoot(r.CAFile)
	if h := os.Getenv(EnvHibernation); h != "" {
		if r.Hibernation, err = time.ParseDuration(h); err != nil || r.Hibernation <= 0 {
			return r, true, fmt.Errorf("%s=%q: want a positive Go duration such as 600s", EnvHibernation, h)
		}
	}
	if p := os.Getenv(EnvProsodyctl); p != "" {
		r.Prosodyctl = strings.Fields(p)
	} else {
		r.Prosodyctl = []string{"docker", "compose", "-f", resolveFromModuleRoot("testdata/compose.yaml"), "exec", "-T", "prosody", "prosodyctl"}
	}
	return r, true, nil
}

// resolveFromModuleRoot returns a relative path that does not exist from the
// working directory (tests run in their package's directory) relative to the
// root of the module containing it, when it exists there; otherwise path
// unchanged.
func resolveFromModuleRoot(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	dir, err := os.Getwd()
	if err != nil {
		return path
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if p := filepath.Join(dir, path); fileExists(p) {
				return p
			}
			return path
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return path
		}
		dir = parent
	}
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

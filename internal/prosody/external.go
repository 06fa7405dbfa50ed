package prosody

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Environment variables of external mode (see the package doc).
const (
	EnvServer      = "XMPPBG_TEST_SERVER"
	EnvDomain      = "XMPPBG_TEST_DOMAIN"
	EnvCAFile      = "XMPPBG_TEST_CA_FILE"
	EnvHibernation = "XMPPBG_TEST_HIBERNATION"
	EnvProsodyctl  = "XMPPBG_TEST_PROSODYCTL"
)

// startExternal describes the server named by XMPPBG_TEST_SERVER and
// registers opts.Accounts on it.
func startExternal(ctx context.Context, opts Options) (*Server, error) {
	addr := os.Getenv(EnvServer)
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("prosody: %s=%q: want host:port: %w", EnvServer, addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("prosody: %s=%q: bad port", EnvServer, addr)
	}
	s := &Server{external: true, host: host, port: port, domain: DefaultDomain, hibernation: DefaultHibernation}
	if d := os.Getenv(EnvDomain); d != "" {
		s.domain = d
	}
	s.caFile = os.Getenv(EnvCAFile)
	if s.caFile == "" {
		return nil, fmt.Errorf("prosody: %s is set but %s is not: name the PEM certificate clients should trust (e.g. testdata/certs/cert.pem)", EnvServer, EnvCAFile)
	}
	s.caFile = resolveFromModuleRoot(s.caFile)
	if s.pool, err = loadCertPool(s.caFile); err != nil {
		return nil, err
	}
	if h := os.Getenv(EnvHibernation); h != "" {
		if s.hibernation, err = time.ParseDuration(h); err != nil || s.hibernation <= 0 {
			return nil, fmt.Errorf("prosody: %s=%q: want a positive Go duration such as 600s", EnvHibernation, h)
		}
	}
	if p := os.Getenv(EnvProsodyctl); p != "" {
		s.ctlPrefix = strings.Fields(p)
	} else {
		s.ctlPrefix = []string{"docker", "compose", "-f", resolveFromModuleRoot("testdata/compose.yaml"), "exec", "-T", "prosody", "prosodyctl"}
	}
	if len(s.ctlPrefix) == 0 {
		return nil, errors.New("prosody: empty " + EnvProsodyctl)
	}
	if err := s.RegisterMany(ctx, opts.Accounts); err != nil {
		return nil, err
	}
	return s, nil
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

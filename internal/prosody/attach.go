package prosody

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Remote describes a Prosody server that is already running, for Attach.
type Remote struct {
	// Addr is the host:port of its c2s (STARTTLS) port.
	Addr string
	// Domain is its XMPP domain; default DefaultDomain.
	Domain string
	// CAFile is the PEM certificate clients should trust (required).
	CAFile string
	// Hibernation is its smacks hibernation time; default
	// DefaultHibernation.
	Hibernation time.Duration
	// Prosodyctl is the command prefix that registers accounts, followed by
	// "register USER DOMAIN PASS" (required), for instance
	// docker compose -f testdata/compose.yaml exec -T prosody prosodyctl.
	Prosodyctl []string
}

// Attach returns a Server describing the already running server r and
// registers accounts on it. Nothing is started: see the package doc's
// "Attached servers". It reads no environment variables; the test harness
// (internal/integration) builds r from XMPPBG_TEST_*.
func Attach(ctx context.Context, r Remote, accounts map[string]string) (*Server, error) {
	host, portStr, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return nil, fmt.Errorf("prosody: attach to %q: want host:port: %w", r.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("prosody: attach to %q: bad port", r.Addr)
	}
	if r.CAFile == "" {
		return nil, errors.New("prosody: attach: no CA file: name the PEM certificate clients should trust")
	}
	if len(r.Prosodyctl) == 0 {
		return nil, errors.New("prosody: attach: no prosodyctl command")
	}
	if r.Hibernation < 0 {
		return nil, fmt.Errorf("prosody: attach: negative hibernation %v", r.Hibernation)
	}
	s := &Server{
		external:    true,
		host:        host,
		port:        port,
		domain:      r.Domain,
		caFile:      r.CAFile,
		hibernation: r.Hibernation,
		ctlPrefix:   append([]string(nil), r.Prosodyctl...),
	}
	if s.domain == "" {
		s.domain = DefaultDomain
	}
	if s.hibernation == 0 {
		s.hibernation = DefaultHibernation
	}
	if s.pool, err = loadCertPool(s.caFile); err != nil {
		return nil, err
	}
	if err := s.RegisterMany(ctx, accounts); err != nil {
		return nil, err
	}
	return s, nil
}

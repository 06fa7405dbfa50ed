package prosody_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
)

func TestTestdataConfigInSync(t *testing.T) {
	const copyPath = "../../testdata/prosody/prosody.cfg.lua"
	testdata, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(prosody.Config, testdata) {
		t.Fatalf("%s differs from internal/prosody/prosody.cfg.lua (the embedded, canonical copy); "+
			"run: cp internal/prosody/prosody.cfg.lua testdata/prosody/prosody.cfg.lua", copyPath)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Setenv(integration.EnvServer, "")
	for _, opts := range []prosody.Options{
		{Hibernation: 1500 * time.Millisecond},
		{Hibernation: 500 * time.Millisecond},
		{Hibernation: -time.Second},
		{LogLevel: "verbose"},
	} {
		s, err := prosody.Start(t.Context(), opts)
		if err == nil {
			s.Stop()
			t.Errorf("Start(%+v) succeeded, want an error", opts)
		} else if !strings.Contains(err.Error(), "Hibernation") && !strings.Contains(err.Error(), "LogLevel") {
			t.Errorf("Start(%+v): %v, want a validation error", opts, err)
		}
	}
}

// features connects to addr (TLS when tlsConf is not nil), sends a stream
// header and returns the stream features.
func features(t *testing.T, addr string, tlsConf *tls.Config, domain string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if tlsConf != nil {
		conn = tls.Client(conn, tlsConf)
	}
	if _, err := conn.Write([]byte(prosody.StreamHeader(domain))); err != nil {
		t.Fatal(err)
	}
	data, err := prosody.ReadUntil(conn, "</stream:features>")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestStartAccountsAndFeatures(t *testing.T) {
	begin := time.Now()
	s := integration.StartProsody(t, prosody.Options{Accounts: map[string]string{"alice": "alice-pw", "bob": "b0b pass!"}})
	t.Logf("started in %v at %s (pid %d)", time.Since(begin), s.Addr(), s.PID())
	if s.External() {
		t.Skip("local-server test")
	}
	if s.Domain() != "localhost" || s.Hibernation() != 600*time.Second || s.DirectTLSAddr() != "" {
		t.Errorf("Domain %q, Hibernation %v, DirectTLSAddr %q", s.Domain(), s.Hibernation(), s.DirectTLSAddr())
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || s.PID() == 0 {
		t.Errorf("Addr %q, PID %d", s.Addr(), s.PID())
	}
	f := features(t, s.Addr(), nil, s.Domain())
	if !strings.Contains(f, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'") || !strings.Contains(f, "<required") {
		t.Errorf("pre-auth features lack required starttls: %s", f)
	}
	if fi, err := os.Stat(filepath.Join(s.Dir(), "certs", "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}

	features, enabled := integration.EnableSM(t, s, "alice", "alice-pw")
	if !strings.Contains(features, "urn:xmpp:sm:3") || !strings.Contains(enabled, "max='600'") {
		t.Errorf("stream management: %s\n%s", features, enabled)
	}
	// Accounts, by prosodyctl against the running server (names and
	// passwords that stringprep may change go through it).
	integration.CheckAccounts(t, s)
}

func TestRestartKeepsPortAndAccounts(t *testing.T) {
	s := integration.StartProsody(t, prosody.Options{Accounts: map[string]string{"alice": "alice-pw"}})
	if s.External() {
		t.Skip("local-server test")
	}
	if err := s.Register(t.Context(), "bob", "bob-pw"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		// A connected client must not prevent the restart.
		conn, err := integration.Authenticate(s, "alice", "alice-pw")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		oldPID := s.PID()
		begin := time.Now()
		if err := s.Restart(t.Context(), sig); err != nil {
			t.Fatal(err)
		}
		t.Logf("restart with %v: %v", sig, time.Since(begin))
		if s.Addr() != addr {
			t.Errorf("after %v: Addr %s, want %s", sig, s.Addr(), addr)
		}
		if s.PID() == oldPID || s.PID() == 0 {
			t.Errorf("after %v: PID %d, was %d", sig, s.PID(), oldPID)
		}
		if err := processGone(oldPID); err != nil {
			t.Errorf("after %v: old process %d: %v", sig, oldPID, err)
		}
		if _, err := os.Stat(filepath.Join(s.Dir(), "data", "localhost", "accounts", "bob.dat")); err != nil {
			t.Error(err)
		}
		integration.MustLogin(t, s, "alice", "alice-pw")
		integration.MustLogin(t, s, "bob", "bob-pw")
	}
}

func TestStop(t *testing.T) {
	t.Setenv(integration.EnvServer, "")
	s := integration.StartProsody(t, prosody.Options{})
	pid, dir := s.PID(), s.Dir()
	begin := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop: %v", time.Since(begin))
	if err := processGone(pid); err != nil {
		t.Errorf("process %d after Stop: %v", pid, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dir %s after Stop: %v", dir, err)
	}
	if s.PID() != 0 {
		t.Errorf("PID after Stop: %d", s.PID())
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := s.Restart(t.Context(), syscall.SIGTERM); err == nil {
		t.Error("Restart after Stop succeeded")
	}
}

func TestGivenDirIsKept(t *testing.T) {
	t.Setenv(integration.EnvServer, "")
	dir := filepath.Join(t.TempDir(), "srv")
	s := integration.StartProsody(t, prosody.Options{Dir: dir, Accounts: map[string]string{"alice": "pw"}})
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "localhost", "accounts", "alice.dat")); err != nil {
		t.Errorf("data after Stop: %v", err)
	}
	// The same dir again: the account is still there.
	s = integration.StartProsody(t, prosody.Options{Dir: dir})
	integration.MustLogin(t, s, "alice", "pw")
}

func TestLogTail(t *testing.T) {
	s := integration.StartProsody(t, prosody.Options{LogLevel: "debug"})
	if s.External() {
		t.Skip("local-server test")
	}
	tail := s.LogTail(5)
	if n := len(strings.Split(tail, "\n")); tail == "" || n > 5 {
		t.Errorf("LogTail(5) = %d lines:\n%s", n, tail)
	}
	if s.LogTail(0) != "" {
		t.Error("LogTail(0) not empty")
	}
}

func TestOptions(t *testing.T) {
	s := integration.StartProsody(t, prosody.Options{
		Domain:         "example.test",
		Hibernation:    3 * time.Second,
		MAM:            true,
		DisableOffline: true,
		DirectTLSPort:  true,
		LogLevel:       "debug",
		Accounts:       map[string]string{"alice": "pw"},
	})
	if s.External() {
		t.Skip("local-server test")
	}
	if s.Domain() != "example.test" || s.Hibernation() != 3*time.Second {
		t.Errorf("Domain %q Hibernation %v", s.Domain(), s.Hibernation())
	}
	if s.DirectTLSAddr() == "" || s.DirectTLSAddr() == s.Addr() {
		t.Fatalf("DirectTLSAddr %q (Addr %q)", s.DirectTLSAddr(), s.Addr())
	}
	f := features(t, s.DirectTLSAddr(), &tls.Config{RootCAs: s.CertPool(), ServerName: s.Domain()}, s.Domain())
	if strings.Contains(f, "xmpp-tls") || !strings.Contains(f, "<mechanism>PLAIN</mechanism>") {
		t.Errorf("direct TLS features: %s", f)
	}
	// The certificate is also valid for 127.0.0.1 (no SNI is sent for an
	// IP; Prosody refuses SNI names other than its hosts).
	conn, err := tls.Dial("tcp", s.DirectTLSAddr(), &tls.Config{RootCAs: s.CertPool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Errorf("TLS with ServerName 127.0.0.1: %v", err)
	} else {
		conn.Close()
	}
	features, enabled := integration.EnableSM(t, s, "alice", "pw")
	if !strings.Contains(features, "urn:xmpp:sm:3") {
		t.Errorf("post-auth features lack urn:xmpp:sm:3: %s", features)
	}
	if !strings.Contains(enabled, "max='3'") {
		t.Errorf("hibernation not 3 s: %s", enabled)
	}
	log := s.LogTail(100000)
	if !strings.Contains(log, "example.test:mam") {
		t.Error("mod_mam not loaded")
	}
	if strings.Contains(log, "example.test:offline") {
		t.Error("mod_offline loaded")
	}
}

// A server whose port is taken must not mistake the other server for itself:
// Prosody logs the bind failure and keeps running.
func TestLaunchDetectsTakenPort(t *testing.T) {
	a := integration.StartProsody(t, prosody.Options{})
	if a.External() {
		t.Skip("local-server test")
	}
	_, portStr, _ := net.SplitHostPort(a.Addr())
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatal(err)
	}
	pid, log, err := prosody.LaunchOnPort(t.Context(), port)
	if !errors.Is(err, prosody.ErrPortTaken) {
		t.Fatalf("launch on a taken port: %v, want errPortTaken; log:\n%s", err, log)
	}
	t.Log(err)
	if pid != 0 {
		t.Errorf("PID after failed launch: %d", pid)
	}
}

func TestAttach(t *testing.T) {
	// A local server stands in for the running one; prosodyctl reaches its
	// data through the same variables the config reads.
	local := integration.StartProsody(t, prosody.Options{Hibernation: 7 * time.Second})
	if local.External() {
		t.Skip("local-server test")
	}
	r := prosody.Remote{
		Addr:        local.Addr(),
		Hibernation: 7 * time.Second,
		Prosodyctl: []string{"env", "XMPPBG_RUN_AS_ROOT=1", "XMPPBG_DATA=" + filepath.Join(local.Dir(), "data"),
			"prosodyctl", "--config", local.ConfigFile()},
	}
	if _, err := prosody.Attach(t.Context(), r, nil); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Fatalf("Attach without a CA file: %v", err)
	}
	r.CAFile = local.CAFile()
	s, err := prosody.Attach(t.Context(), r, map[string]string{"alice": "alice-pw", "bob": "bob-pw"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.External() || s.Addr() != local.Addr() || s.Domain() != "localhost" || s.Hibernation() != 7*time.Second ||
		s.PID() != 0 || s.LogTail(10) != "" || s.DirectTLSAddr() != "" {
		t.Errorf("attached: External %v Addr %s Domain %s Hibernation %v PID %d", s.External(), s.Addr(), s.Domain(), s.Hibernation(), s.PID())
	}
	integration.MustLogin(t, s, "alice", "alice-pw")
	integration.MustLogin(t, s, "bob", "bob-pw")
	if err := s.Register(t.Context(), "carol", "carol-pw"); err != nil {
		t.Fatal(err)
	}
	integration.MustLogin(t, s, "carol", "carol-pw")
	if err := s.Restart(context.Background(), syscall.SIGTERM); !errors.Is(err, prosody.ErrExternal) {
		t.Errorf("Restart: %v, want ErrExternal", err)
	}
	if err := s.Stop(); err != nil {
		t.Error(err)
	}
	integration.MustLogin(t, s, "alice", "alice-pw") // Stop did nothing
}

func TestRegisterManyTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := integration.StartProsody(t, prosody.Options{})
	if s.External() {
		t.Skip("local-server test")
	}
	// 1000 accounts take about 2.3 s on 2 cores, ten times that under -race.
	const n = 200
	accounts := make(map[string]string, n)
	for i := range n {
		accounts[fmt.Sprintf("user%04d", i)] = fmt.Sprintf("pw%04d", i)
	}
	begin := time.Now()
	if err := s.RegisterMany(t.Context(), accounts); err != nil {
		t.Fatal(err)
	}
	d := time.Since(begin)
	t.Logf("RegisterMany(%d): %v (%v per account)", n, d, d/n)
	integration.MustLogin(t, s, "user0000", "pw0000")
	integration.MustLogin(t, s, fmt.Sprintf("user%04d", n-1), fmt.Sprintf("pw%04d", n-1))
}

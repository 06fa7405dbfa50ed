package ejabberd_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/ejabberd"
	"github.com/xmppbg/xmppbg/internal/integration"
)

func TestTestdataConfigInSync(t *testing.T) {
	const copyPath = "../../testdata/ejabberd/ejabberd.yml"
	want, err := ejabberd.TestdataConfig()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from internal/ejabberd/ejabberd.yml.tmpl rendered with the defaults; "+
			"regenerate it (see TestdataConfig in export_test.go)", copyPath)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, opts := range []ejabberd.Options{
		{Hibernation: 1500 * time.Millisecond},
		{Hibernation: 500 * time.Millisecond},
		{Hibernation: -time.Second},
		{LogLevel: "verbose"},
		{ResendOnTimeout: "maybe"},
	} {
		s, err := ejabberd.Start(t.Context(), opts)
		if err == nil {
			s.Stop()
			t.Errorf("Start(%+v) succeeded, want an error", opts)
		} else if !strings.Contains(err.Error(), "Hibernation") && !strings.Contains(err.Error(), "LogLevel") &&
			!strings.Contains(err.Error(), "ResendOnTimeout") {
			t.Errorf("Start(%+v): %v, want a validation error", opts, err)
		}
	}
}

func send(c net.Conn, x string) error { _, err := c.Write([]byte(x)); return err }

// features connects to addr, sends a stream header and returns the stream
// features.
func features(t *testing.T, addr, domain string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := send(conn, ejabberd.StreamHeader(domain)); err != nil {
		t.Fatal(err)
	}
	data, err := ejabberd.ReadUntil(conn, "</stream:features>")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestStartAccountsAndFeatures(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	s := integration.StartEjabberd(t, ejabberd.Options{Accounts: map[string]string{"alice": "alice-pw", "bob": "b0b pass!"}})
	t.Logf("started in %v (VM boot %v) at %s (pid %d)", time.Since(begin), s.BootTime(), s.Addr(), s.PID())
	if s.Domain() != "localhost" || s.Hibernation() != 300*time.Second {
		t.Errorf("Domain %q, Hibernation %v", s.Domain(), s.Hibernation())
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || !strings.HasPrefix(s.APIAddr(), "127.0.0.1:") || s.PID() == 0 {
		t.Errorf("Addr %q, APIAddr %q, PID %d", s.Addr(), s.APIAddr(), s.PID())
	}
	f := features(t, s.Addr(), s.Domain())
	if !strings.Contains(f, "urn:ietf:params:xml:ns:xmpp-tls") || !strings.Contains(f, "<required") {
		t.Errorf("pre-auth features lack required starttls: %s", f)
	}
	if fi, err := os.Stat(filepath.Join(s.Dir(), "certs", "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}
	features, enabled := integration.EnableSM(t, s, "alice", "alice-pw")
	t.Logf("features: %s\nenabled: %s", features, enabled)
	if !strings.Contains(features, "urn:xmpp:sm:3") || !strings.Contains(enabled, "max='300'") {
		t.Errorf("stream management: %s\n%s", features, enabled)
	}
	integration.CheckAccounts(t, s)

	tail := s.LogTail(5)
	if n := len(strings.Split(tail, "\n")); tail == "" || n > 5 {
		t.Errorf("LogTail(5) = %d lines:\n%s", n, tail)
	}
	if s.LogTail(0) != "" {
		t.Error("LogTail(0) not empty")
	}
	if strings.Contains(s.LogTail(100000), "carol-pw") {
		t.Error("the log shows a password")
	}

	// The API serves the harness's commands.
	out, err := s.Call(t.Context(), "registered_users", map[string]string{"host": s.Domain()})
	if err != nil || !strings.Contains(string(out), "carol") {
		t.Errorf("registered_users: %s, %v", out, err)
	}
}

func TestRestartKeepsPortAndAccounts(t *testing.T) {
	t.Parallel()
	s := integration.StartEjabberd(t, ejabberd.Options{Accounts: map[string]string{"alice": "alice-pw"}})
	if err := s.Register(t.Context(), "bob", "bob-pw"); err != nil {
		t.Fatal(err)
	}
	addr, api := s.Addr(), s.APIAddr()
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		// A connected client must not prevent the restart.
		conn, err := integration.Authenticate(s, "alice", "alice-pw")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Registered just before: the harness makes sure it survives even
		// a SIGKILL.
		fresh := "fresh-" + strconv.Itoa(int(sig.(syscall.Signal)))
		if err := s.Register(t.Context(), fresh, "fresh-pw"); err != nil {
			t.Fatal(err)
		}
		oldPID := s.PID()
		begin := time.Now()
		if err := s.Restart(t.Context(), sig); err != nil {
			t.Fatal(err)
		}
		t.Logf("restart with %v: %v (VM boot %v)", sig, time.Since(begin), s.BootTime())
		if s.Addr() != addr || s.APIAddr() != api {
			t.Errorf("after %v: Addr %s APIAddr %s, want %s %s", sig, s.Addr(), s.APIAddr(), addr, api)
		}
		if s.PID() == oldPID || s.PID() == 0 {
			t.Errorf("after %v: PID %d, was %d", sig, s.PID(), oldPID)
		}
		if !groupGone(oldPID) {
			t.Errorf("after %v: process group %d still has processes", sig, oldPID)
		}
		integration.MustLogin(t, s, "alice", "alice-pw")
		integration.MustLogin(t, s, "bob", "bob-pw")
		integration.MustLogin(t, s, fresh, "fresh-pw")
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	s := integration.StartEjabberd(t, ejabberd.Options{})
	pid, dir := s.PID(), s.Dir()
	begin := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop: %v", time.Since(begin))
	if !groupGone(pid) {
		t.Errorf("process group %d after Stop still has processes", pid)
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
	// The VM is not distributed: no epmd was started for it.
	if out, err := exec.Command("pgrep", "-x", "epmd").Output(); err == nil {
		t.Logf("an epmd runs (pids %s); check it is not ours", strings.TrimSpace(string(out)))
	}
}

func TestParallelInstances(t *testing.T) {
	t.Parallel()
	// Several servers at once: distinct ports, dirs and Mnesia spools, no
	// node-name clash.
	var servers [2]*ejabberd.Server
	errs := make(chan error, len(servers))
	for i := range servers {
		go func() {
			s, err := ejabberd.Start(t.Context(), ejabberd.Options{Accounts: map[string]string{"alice": "pw" + strconv.Itoa(i)}})
			if err == nil {
				servers[i] = s
				t.Cleanup(func() { s.Stop() })
			}
			errs <- err
		}()
	}
	for range servers {
		if err := <-errs; err != nil {
			if errors.Is(err, ejabberd.ErrNotInstalled) {
				t.Skip(err)
			}
			t.Fatal(err)
		}
	}
	for i, s := range servers {
		integration.MustLogin(t, s, "alice", "pw"+strconv.Itoa(i))
	}
	if servers[0].Addr() == servers[1].Addr() || servers[0].Dir() == servers[1].Dir() {
		t.Errorf("shared address or dir: %s %s", servers[0].Addr(), servers[0].Dir())
	}
}

func TestGivenDirIsKept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "srv")
	s := integration.StartEjabberd(t, ejabberd.Options{Dir: dir, Accounts: map[string]string{"alice": "pw"}})
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "spool", "passwd.DAT")); err != nil {
		t.Errorf("data after Stop: %v", err)
	}
	// The same dir again: the account is still there.
	s = integration.StartEjabberd(t, ejabberd.Options{Dir: dir})
	integration.MustLogin(t, s, "alice", "pw")
}

func TestOptions(t *testing.T) {
	t.Parallel()
	s := integration.StartEjabberd(t, ejabberd.Options{
		Domain:          "example.test",
		Hibernation:     3 * time.Second,
		ResendOnTimeout: "false",
		MAM:             true,
		DisableOffline:  true,
		LogLevel:        "debug",
		Accounts:        map[string]string{"alice": "pw"},
	})
	if s.Domain() != "example.test" || s.Hibernation() != 3*time.Second {
		t.Errorf("Domain %q Hibernation %v", s.Domain(), s.Hibernation())
	}
	features, enabled := integration.EnableSM(t, s, "alice", "pw")
	if !strings.Contains(features, "urn:xmpp:sm:3") {
		t.Errorf("post-auth features lack urn:xmpp:sm:3: %s", features)
	}
	if !strings.Contains(enabled, "max='3'") {
		t.Errorf("resume_timeout not 3 s: %s", enabled)
	}
	cfg, err := os.ReadFile(s.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mod_mam:", "resend_on_timeout: false", "loglevel: debug"} {
		if !bytes.Contains(cfg, []byte(want)) {
			t.Errorf("config lacks %q", want)
		}
	}
	if bytes.Contains(cfg, []byte("mod_offline")) {
		t.Error("mod_offline configured")
	}
}

func TestRegisterManyTiming(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("short")
	}
	s := integration.StartEjabberd(t, ejabberd.Options{})
	const n = 100
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

package bench_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/session"
)

const pw = "a long benchmark password"

var quiet = slog.New(slog.DiscardHandler)

// startServer starts a throwaway Prosody with Prosody's default
// internal_hashed storage and the given accounts (registered fast, with
// RegisterMany, when there are many).
func startServer(tb testing.TB, opts prosody.Options, users ...string) *prosody.Server {
	tb.Helper()
	raiseNoFile(tb)
	srv := integration.StartProsody(tb, opts)
	if len(users) > 0 {
		acc := make(map[string]string, len(users))
		for _, u := range users {
			acc[u] = pw
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := srv.RegisterMany(ctx, acc); err != nil {
			tb.Fatal(err)
		}
	}
	return srv
}

// users returns n localparts prefix0 … prefix(n-1).
func users(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// sessionConfig is the configuration of user on srv, connecting to addr
// (the server's, or a proxy's).
// One TLS configuration per server, shared by its sessions as an app shares
// one (each holds a parsed certificate pool).
var tlsConfigs sync.Map // CA file → *tls.Config

// tlsServer is what sessionConfig needs of a server: a *prosody.Server, or
// any integration.Server.
type tlsServer interface {
	Domain() string
	CAFile() string
}

func sessionConfig(tb testing.TB, srv tlsServer, user, addr string) session.Config {
	tb.Helper()
	var tlsCfg *tls.Config
	if c, ok := tlsConfigs.Load(srv.CAFile()); ok {
		tlsCfg = c.(*tls.Config)
	} else {
		c, err := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
		if err != nil {
			tb.Fatal(err)
		}
		c2, _ := tlsConfigs.LoadOrStore(srv.CAFile(), c)
		tlsCfg = c2.(*tls.Config)
	}
	return session.Config{
		JID:      user + "@" + srv.Domain(),
		Password: pw,
		Addr:     addr,
		TLS:      tlsCfg,
		Logger:   quiet,
	}
}

// envInt reads a positive integer from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// report collects the Markdown of the report test.
var report struct {
	mu sync.Mutex
	b  strings.Builder
}

func reportf(format string, args ...any) {
	report.mu.Lock()
	defer report.mu.Unlock()
	fmt.Fprintf(&report.b, format, args...)
}

// machine describes where the figures were taken.
func machine() string {
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%s, GOMAXPROCS %d, %d CPUs, load average at start %s",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), strings.TrimSpace(string(load)))
}

// loadAvg returns the 1-minute load average.
func loadAvg() string {
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// procStatus reads a "Key: value kB" field of /proc/PID/status in bytes
// (pid 0: this process).
func procStatus(pid int, key string) int64 {
	path := "/proc/self/status"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return -1
			}
			n, _ := strconv.ParseInt(f[0], 10, 64)
			if len(f) > 1 && f[1] == "kB" {
				n *= 1024
			}
			return n
		}
	}
	return -1
}

// cpuTime returns the user+system CPU time a process used (pid 0: this one),
// from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	path := "/proc/self/stat"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name (which may hold spaces) in parentheses.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz
}

// withoutNagle restarts srv with Prosody's Nagle algorithm off
// (network_settings = { nagle = false }, a global option, so it goes first
// in the config file). An experiment only: the package's config keeps
// Prosody's default. Sessions to srv are cut.
func withoutNagle(tb testing.TB, srv *prosody.Server) {
	tb.Helper()
	path := srv.ConfigFile()
	old, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, append([]byte("network_settings = { nagle = false }\n"), old...), 0o644); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Restart(ctx, syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
}

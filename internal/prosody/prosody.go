package prosody

import (
	"bytes"
	"context"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xmppbg/xmppbg/internal/serverproc"
)

// config is the server configuration template. testdata/prosody/prosody.cfg.lua
// is a byte-identical copy (mounted by testdata/compose.yaml), kept in sync
// by TestTestdataConfigInSync.
//
//go:embed prosody.cfg.lua
var config []byte

// Defaults.
const (
	DefaultDomain      = "localhost"
	DefaultHibernation = 600 * time.Second
	DefaultLogLevel    = "info"

	// DefaultReadyTimeout bounds how long Start and Restart wait for the
	// server to answer, unless the context expires first.
	DefaultReadyTimeout = 10 * time.Second
	// StopTimeout bounds how long Stop and Restart wait after SIGTERM before
	// they SIGKILL the process group.
	StopTimeout = 5 * time.Second
)

// ErrExternal is returned (wrapped) by operations an attached server (see
// Attach) does not support.
var ErrExternal = errors.New("prosody: not supported on an attached server")

// Options configures Start. The zero value gives the documented defaults.
type Options struct {
	// Domain is the XMPP domain (VirtualHost); default "localhost".
	Domain string
	// Accounts maps localparts to passwords; they are registered before
	// Start returns.
	Accounts map[string]string
	// Hibernation is mod_smacks' smacks_hibernation_time; default 600 s.
	// It must be a whole number of seconds, at least 1 s.
	Hibernation time.Duration
	// MAM loads mod_mam (message archive; nothing expires).
	MAM bool
	// DisableOffline unloads mod_offline (offline storage is on by default).
	DisableOffline bool
	// DisableSM leaves out mod_smacks: a server without XEP-0198 stream
	// management.
	DisableSM bool
	// DirectTLSPort also listens for XEP-0368 direct TLS on a second free
	// port (see Server.DirectTLSAddr).
	DirectTLSPort bool
	// Version is the Prosody to run: Version012 (the default, Debian's
	// package on PATH) or Version13 (scripts/setup.sh's, see Find). Prosody
	// 13 also loads mod_sasl2, mod_sasl2_bind2, mod_sasl2_fast,
	// mod_sasl2_sm (unless DisableSM) and mod_sasl_ssdp.
	Version string
	// Dir holds config, certificate, data and log. Default: a new temp dir,
	// removed by Stop. A given Dir is created if needed and never removed.
	Dir string
	// LogLevel is Prosody's minimum log level (debug, info, warn, error);
	// default "info".
	LogLevel string
	// StanzaSizeLimit is c2s_stanza_size_limit, in bytes: the largest
	// stanza a client may send (Prosody 13 advertises it, XEP-0478).
	// Default: Prosody's, 256 KiB.
	StanzaSizeLimit int
}

// Server is a running Prosody server: a child process (Start) or an
// already running one (Attach).
type Server struct {
	external    bool
	domain      string
	host        string // listen address
	port        int
	tlsPort     int // 0 unless DirectTLSPort
	caFile      string
	pool        *x509.CertPool
	hibernation time.Duration
	version     string // Version012 or Version13

	// Local mode.
	prosodyBin, prosodyctlBin string
	dir                       string
	ownDir                    bool
	configFile                string
	logFile                   string
	consoleFile               string
	env                       []string

	// Attached: prosodyctl command prefix.
	ctlPrefix []string

	mu      sync.Mutex
	proc    *process
	stopped bool
	stopErr error
}

// process is one run of the prosody binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait has returned
	err  error         // Wait's result, valid after done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts a Prosody server and returns when it answers on its c2s port
// with stream features. The ctx bounds the startup only, not the server's
// lifetime.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s, err := newLocal(opts)
	if err != nil {
		return nil, err
	}
	if err := s.startLocal(ctx, opts); err != nil {
		s.cleanupDir()
		return nil, err
	}
	return s, nil
}

func newLocal(opts Options) (*Server, error) {
	s := &Server{domain: opts.Domain, host: "127.0.0.1", hibernation: opts.Hibernation}
	if s.domain == "" {
		s.domain = DefaultDomain
	}
	switch {
	case s.hibernation == 0:
		s.hibernation = DefaultHibernation
	case s.hibernation < time.Second || s.hibernation%time.Second != 0:
		return nil, fmt.Errorf("prosody: Hibernation %v: must be a whole number of seconds, at least 1s", s.hibernation)
	}
	level := opts.LogLevel
	if level == "" {
		level = DefaultLogLevel
	}
	switch level {
	case "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("prosody: LogLevel %q: want debug, info, warn or error", level)
	}
	inst, err := Find(opts.Version)
	if err != nil {
		return nil, err
	}
	s.prosodyBin, s.prosodyctlBin, s.version = inst.Prosody, inst.Prosodyctl, inst.Version

	if opts.Dir == "" {
		if s.dir, err = os.MkdirTemp("", "xmppbg-prosody-*"); err != nil {
			return nil, fmt.Errorf("prosody: %w", err)
		}
		s.ownDir = true
	} else {
		if s.dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, fmt.Errorf("prosody: %w", err)
		}
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return nil, fmt.Errorf("prosody: %w", err)
		}
	}
	ok := false
	defer func() {
		if !ok {
			s.cleanupDir()
		}
	}()

	// Prosody resolves relative paths (and its default certificate
	// directory "certs") against the directory of the config file.
	s.configFile = filepath.Join(s.dir, "prosody.cfg.lua")
	if err := writeFileMode(s.configFile, config, 0o644); err != nil {
		return nil, err
	}
	certFile, keyFile, err := WriteCert(filepath.Join(s.dir, "certs"), s.domain, 0o600)
	if err != nil {
		return nil, err
	}
	s.caFile = certFile
	if s.pool, err = loadCertPool(certFile); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("prosody: %w", err)
	}
	s.logFile = filepath.Join(s.dir, "prosody.log")
	s.consoleFile = filepath.Join(s.dir, "console.log")

	vars := map[string]string{
		"XMPPBG_DOMAIN":       s.domain,
		"XMPPBG_INTERFACE":    s.host,
		"XMPPBG_DATA":         dataDir,
		"XMPPBG_LOG":          s.logFile,
		"XMPPBG_LOG_LEVEL":    level,
		"XMPPBG_CERT":         certFile,
		"XMPPBG_KEY":          keyFile,
		"XMPPBG_HIBERNATION":  strconv.Itoa(int(s.hibernation / time.Second)),
		"XMPPBG_MAM":          boolEnv(opts.MAM),
		"XMPPBG_OFFLINE":      boolEnv(!opts.DisableOffline),
		"XMPPBG_SMACKS":       boolEnv(!opts.DisableSM),
		"XMPPBG_MODERN":       boolEnv(inst.Modern()),
		"XMPPBG_STANZA_LIMIT": stanzaLimit(opts.StanzaSizeLimit),
		// Harmless when not root; see prosody.cfg.lua.
		"XMPPBG_RUN_AS_ROOT": "1",
	}
	// Inherited XMPPBG_* variables must not leak into the config.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "XMPPBG_") {
			s.env = append(s.env, kv)
		}
	}
	for k, v := range vars {
		s.env = append(s.env, k+"="+v)
	}
	ok = true
	return s, nil
}

func boolEnv(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// startLocal registers the accounts, picks free ports and starts the server,
// retrying with new ports when one was taken in the meantime.
func (s *Server) startLocal(ctx context.Context, opts Options) error {
	if err := s.RegisterMany(ctx, opts.Accounts); err != nil {
		return err
	}
	n := 1
	if opts.DirectTLSPort {
		n = 2
	}
	const attempts = 3
	var err error
	for range attempts {
		var ports []int
		if ports, err = serverproc.FreePorts(s.host, n); err != nil {
			return fmt.Errorf("prosody: %w", err)
		}
		s.port = ports[0]
		if opts.DirectTLSPort {
			s.tlsPort = ports[1]
		}
		s.mu.Lock()
		err = s.launch(ctx)
		s.mu.Unlock()
		if err == nil || !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

var errPortTaken = errors.New("port already in use")

// launch starts the binary on s.port (and s.tlsPort) and waits until it
// answers. On failure the process is gone. Called with s.mu held.
func (s *Server) launch(ctx context.Context) error {
	env := append(s.env[:len(s.env):len(s.env)], "XMPPBG_PORT="+strconv.Itoa(s.port))
	if s.tlsPort != 0 {
		env = append(env, "XMPPBG_DIRECT_TLS_PORT="+strconv.Itoa(s.tlsPort))
	}
	// Log offsets let us look only at this run's lines.
	logStart := serverproc.FileSize(s.logFile)
	console, err := os.OpenFile(s.consoleFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("prosody: %w", err)
	}
	cmd := exec.Command(s.prosodyBin, "-F", "--config", s.configFile)
	cmd.Dir = s.dir
	cmd.Env = env
	cmd.Stdout = console
	cmd.Stderr = console
	cmd.SysProcAttr = serverproc.SysProcAttr()
	if err := cmd.Start(); err != nil {
		console.Close()
		return fmt.Errorf("prosody: start %s: %w", s.prosodyBin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		console.Close()
		close(p.done)
	}()
	s.proc = p

	if err := s.waitReady(ctx, p, logStart); err != nil {
		s.kill(p, syscall.SIGKILL)
		s.proc = nil
		return err
	}
	return nil
}

// Log lines that tell that a port could not be bound; Prosody logs them and
// keeps running.
var bindFailures = []string{"Failed to open server port", "Error binding encrypted port"}

// waitReady polls until the server process listens on its ports and answers
// there, the process exits, a port turns out to be taken, or
// ctx/DefaultReadyTimeout expires.
func (s *Server) waitReady(ctx context.Context, p *process, logStart int64) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultReadyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pid := p.cmd.Process.Pid
	for {
		if p.exited() {
			return fmt.Errorf("prosody: server exited during startup (%v)%s", p.err, s.failureDetails())
		}
		newLog := serverproc.ReadFrom(s.logFile, logStart)
		for _, f := range bindFailures {
			if bytes.Contains(newLog, []byte(f)) {
				return fmt.Errorf("prosody: %w (port %d): %s", errPortTaken, s.port, serverproc.LastLines(string(newLog), 5))
			}
		}
		var err error
		if !serverproc.Listening(pid, s.port) || s.tlsPort != 0 && !serverproc.Listening(pid, s.tlsPort) {
			err = errors.New("server process not listening yet")
		} else if err = s.probe(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("prosody: server not ready on %s: %w (last check: %v)%s",
				s.Addr(), ctx.Err(), err, s.failureDetails())
		case <-p.done:
		case <-tick.C:
		}
	}
}

// probe checks the c2s port (and the direct TLS port) answer a stream header
// with stream features.
func (s *Server) probe(ctx context.Context) error {
	if err := serverproc.ProbeStream(ctx, s.Addr(), s.domain, nil); err != nil {
		return err
	}
	if s.tlsPort != 0 {
		return serverproc.ProbeStream(ctx, s.DirectTLSAddr(), s.domain, s.pool)
	}
	return nil
}

func (s *Server) failureDetails() string {
	var b strings.Builder
	if tail := s.LogTail(20); tail != "" {
		b.WriteString("\nlog tail:\n" + tail)
	}
	if data, err := os.ReadFile(s.consoleFile); err == nil && len(bytes.TrimSpace(data)) > 0 {
		b.WriteString("\nconsole output:\n" + serverproc.LastLines(string(data), 20))
	}
	return b.String()
}

// kill sends sig to the process, waits up to StopTimeout for it to exit, then
// SIGKILLs the whole process group; stray children in the group are killed
// in any case.
func (s *Server) kill(p *process, sig os.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
		case <-time.After(StopTimeout):
		}
	}
	serverproc.KillGroup(p.cmd.Process.Pid)
	<-p.done
}

// Restart stops the server with sig (normally syscall.SIGTERM or
// syscall.SIGKILL; after StopTimeout it is killed anyway) and starts it again
// on the same port(s) with the same data, returning once it answers.
func (s *Server) Restart(ctx context.Context, sig os.Signal) error {
	if s.external {
		return fmt.Errorf("prosody: restart: %w", ErrExternal)
	}
	if sig == nil {
		return errors.New("prosody: restart: nil signal")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("prosody: restart: server stopped")
	}
	if s.proc != nil {
		s.kill(s.proc, sig)
		s.proc = nil
	}
	if err := s.launch(ctx); err != nil {
		return fmt.Errorf("prosody: restart: %w", err)
	}
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL after StopTimeout) and removes
// the temp dir if Start created it. It is idempotent and a no-op for an
// attached server.
func (s *Server) Stop() error {
	if s.external {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return s.stopErr
	}
	s.stopped = true
	if s.proc != nil {
		s.kill(s.proc, syscall.SIGTERM)
	}
	s.stopErr = s.cleanupDir()
	return s.stopErr
}

func (s *Server) cleanupDir() error {
	if !s.ownDir || s.dir == "" {
		return nil
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("prosody: remove %s: %w", s.dir, err)
	}
	return nil
}

// Addr is the "host:port" of the c2s (STARTTLS) port.
func (s *Server) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// DirectTLSAddr is the "host:port" of the XEP-0368 direct TLS port, or "" when
// not enabled (always "" for an attached server).
func (s *Server) DirectTLSAddr() string {
	if s.tlsPort == 0 {
		return ""
	}
	return net.JoinHostPort(s.host, strconv.Itoa(s.tlsPort))
}

// Domain is the server's XMPP domain.
func (s *Server) Domain() string { return s.domain }

// CAFile is the path of the PEM certificate clients should trust.
func (s *Server) CAFile() string { return s.caFile }

// CertPool is a pool holding CAFile's certificate(s).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Version is the Prosody that runs: Version012 or Version13 ("" for an
// attached server).
func (s *Server) Version() string { return s.version }

// Hibernation is the server's smacks hibernation time.
func (s *Server) Hibernation() time.Duration { return s.hibernation }

// External reports whether the server is an already running one (Attach)
// rather than a child process.
func (s *Server) External() bool { return s.external }

// Dir is the directory holding config, certificate, data and log ("" for an
// attached server).
func (s *Server) Dir() string { return s.dir }

// ConfigFile is the path of the config file ("" for an attached server).
func (s *Server) ConfigFile() string { return s.configFile }

// PID is the process id of the running server, 0 if none (or attached).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// LogTail returns the last n lines of the server's log file ("" for an
// attached server or when there is no log yet).
func (s *Server) LogTail(n int) string {
	return serverproc.Tail(s.logFile, n)
}

// stanzaLimit is XMPPBG_STANZA_LIMIT for Options.StanzaSizeLimit: "" for
// Prosody's default.
func stanzaLimit(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

package ejabberd

import (
	"bytes"
	"context"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/xmppbg/xmppbg/internal/prosody"

	"github.com/xmppbg/xmppbg/internal/serverproc"
)

// configTemplate is the server configuration, a text/template.
// testdata/ejabberd/ejabberd.yml is it rendered with TestdataParams, kept in
// sync by TestTestdataConfigInSync.
//
//go:embed ejabberd.yml.tmpl
var configTemplate string

var tmpl = template.Must(template.New("ejabberd.yml").Funcs(template.FuncMap{
	// yaml quotes a string as a YAML (JSON) double-quoted scalar.
	"yaml": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	},
}).Parse(configTemplate))

// Defaults.
const (
	DefaultDomain = "localhost"
	// DefaultHibernation is mod_stream_mgmt's default resume_timeout.
	DefaultHibernation = 300 * time.Second
	DefaultLogLevel    = "info"
	// DefaultResendOnTimeout is the resend_on_timeout the harness sets:
	// unacknowledged messages of a stream whose resumption time passed go
	// to offline storage when the user has no other session (ejabberd's own
	// default, false, bounces them).
	DefaultResendOnTimeout = "if_offline"

	// DefaultReadyTimeout bounds how long Start and Restart wait for the
	// server to answer, unless the context expires first. The Erlang VM
	// takes one to two seconds to boot ejabberd; a loaded machine more.
	DefaultReadyTimeout = 30 * time.Second
	// StopTimeout bounds how long Stop and Restart wait after SIGTERM before
	// they SIGKILL the process group.
	StopTimeout = 10 * time.Second
)

// Options configures Start. The zero value gives the documented defaults.
type Options struct {
	// Domain is the XMPP domain (hosts); default "localhost".
	Domain string
	// Accounts maps localparts to passwords; they are registered before
	// Start returns.
	Accounts map[string]string
	// Hibernation is mod_stream_mgmt's resume_timeout (and
	// max_resume_timeout): how long a stream whose connection was lost stays
	// resumable. Default 300 s. It must be a whole number of seconds, at
	// least 1 s.
	Hibernation time.Duration
	// ResendOnTimeout is mod_stream_mgmt's resend_on_timeout: "if_offline"
	// (the default here), "true" or "false" (ejabberd's own default).
	ResendOnTimeout string
	// MAM loads mod_mam (mnesia archive, every message archived).
	MAM bool
	// DisableOffline leaves mod_offline out (offline storage is on by
	// default).
	DisableOffline bool
	// DisableSM leaves mod_stream_mgmt out: a server without XEP-0198
	// stream management.
	DisableSM bool
	// DirectTLSPort also listens for XEP-0368 direct TLS on a third free
	// port (see Server.DirectTLSAddr).
	DirectTLSPort bool
	// Version is the ejabberd to run: Version2301 (the default, Debian's
	// package) or Version2412 (scripts/setup.sh's, see Find). 24.12 has
	// SASL2 and Bind2 built in; the harness adds mod_auth_fast (FAST).
	Version string
	// Dir holds config, certificate, Mnesia spool and logs. Default: a new
	// temp dir, removed by Stop. A given Dir is created if needed and never
	// removed.
	Dir string
	// LogLevel is ejabberd's loglevel: debug, info, notice, warning (or
	// warn), error, critical or none; default "info".
	LogLevel string
}

// Server is a running ejabberd server, a child process of this one.
type Server struct {
	domain      string
	host        string // listen address
	port        int    // c2s (STARTTLS)
	apiPort     int    // mod_http_api, loopback only
	tlsPort     int    // XEP-0368 direct TLS; 0 unless Options.DirectTLSPort
	caFile      string
	pool        *x509.CertPool
	hibernation time.Duration
	version     string
	params      configParams

	erlBin      string
	dir         string
	ownDir      bool
	configFile  string
	spoolDir    string
	logFile     string
	consoleFile string
	env         []string
	http        *http.Client

	mu       sync.Mutex
	proc     *process
	bootTime time.Duration
	// lastWrite is when Register last changed an account.
	lastWrite time.Time
	stopped   bool
	stopErr   error
}

// process is one run of the Erlang VM.
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

// configParams are the template's parameters.
type configParams struct {
	Domain          string
	LogLevel        string
	CertFiles       []string
	IP              string
	Port            int
	APIPort         int
	TLSPort         int // direct TLS c2s listener; 0 for none
	Hibernation     int // seconds
	ResendOnTimeout string
	MAM             bool
	Offline         bool
	StreamMgmt      bool
	// FAST loads mod_auth_fast (24.12), with its default token lifetimes:
	// token_lifetime and token_refresh_age are parsed wrongly in 24.12
	// (milliseconds added to seconds).
	FAST bool
	// SCRAMSHA256 stores SCRAM-SHA-256 hashes (auth_scram_hash: sha256)
	// instead of SHA-1: the server then offers SCRAM-SHA-256(-PLUS) only.
	SCRAMSHA256 bool
}

// testdataParams are the parameters testdata/ejabberd/ejabberd.yml is
// rendered with: ejabberd's defaults and Debian's self-signed certificate.
var testdataParams = configParams{
	Domain:          DefaultDomain,
	LogLevel:        DefaultLogLevel,
	CertFiles:       []string{"/etc/ejabberd/ejabberd.pem"},
	IP:              "::",
	Port:            5222,
	APIPort:         5280,
	Hibernation:     int(DefaultHibernation / time.Second),
	ResendOnTimeout: DefaultResendOnTimeout,
	Offline:         true,
	StreamMgmt:      true,
}

func renderConfig(p configParams) ([]byte, error) {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("ejabberd: render config: %w", err)
	}
	return b.Bytes(), nil
}

// Start starts an ejabberd server and returns when it answers on its c2s
// port with stream features and the accounts are registered. The ctx bounds
// the startup only, not the server's lifetime.
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

var logLevels = map[string]string{
	"debug": "debug", "info": "info", "notice": "notice", "warn": "warning", "warning": "warning",
	"error": "error", "critical": "critical", "none": "none",
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
		return nil, fmt.Errorf("ejabberd: Hibernation %v: must be a whole number of seconds, at least 1s", s.hibernation)
	}
	level := opts.LogLevel
	if level == "" {
		level = DefaultLogLevel
	}
	if level = logLevels[level]; level == "" {
		return nil, fmt.Errorf("ejabberd: LogLevel %q: want debug, info, notice, warning, error, critical or none", opts.LogLevel)
	}
	resend := opts.ResendOnTimeout
	if resend == "" {
		resend = DefaultResendOnTimeout
	}
	switch resend {
	case "if_offline", "true", "false":
	default:
		return nil, fmt.Errorf("ejabberd: ResendOnTimeout %q: want if_offline, true or false", resend)
	}
	inst, err := Find(opts.Version)
	if err != nil {
		return nil, err
	}
	s.erlBin, s.version = inst.erl, inst.Version

	if opts.Dir == "" {
		if s.dir, err = os.MkdirTemp("", "xmppbg-ejabberd-*"); err != nil {
			return nil, fmt.Errorf("ejabberd: %w", err)
		}
		s.ownDir = true
	} else {
		if s.dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, fmt.Errorf("ejabberd: %w", err)
		}
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return nil, fmt.Errorf("ejabberd: %w", err)
		}
	}
	ok := false
	defer func() {
		if !ok {
			s.cleanupDir()
		}
	}()
	// The spool directory is passed to the VM as an Erlang string literal.
	if strings.ContainsAny(s.dir, "\"\\") {
		return nil, fmt.Errorf("ejabberd: directory %q: must not contain a quote or backslash", s.dir)
	}

	certFile, keyFile, err := prosody.WriteCert(filepath.Join(s.dir, "certs"), s.domain, 0o600)
	if err != nil {
		return nil, err
	}
	s.caFile = certFile
	if s.pool, err = loadCertPool(certFile); err != nil {
		return nil, err
	}
	s.spoolDir = filepath.Join(s.dir, "spool")
	logDir := filepath.Join(s.dir, "logs")
	for _, d := range []string{s.spoolDir, logDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("ejabberd: %w", err)
		}
	}
	s.configFile = filepath.Join(s.dir, "ejabberd.yml")
	s.logFile = filepath.Join(logDir, "ejabberd.log")
	s.consoleFile = filepath.Join(s.dir, "console.log")
	s.params = configParams{
		Domain:          s.domain,
		LogLevel:        level,
		CertFiles:       []string{certFile, keyFile},
		IP:              s.host,
		Hibernation:     int(s.hibernation / time.Second),
		ResendOnTimeout: resend,
		MAM:             opts.MAM,
		Offline:         !opts.DisableOffline,
		StreamMgmt:      !opts.DisableSM,
		FAST:            inst.Modern(),
		SCRAMSHA256:     inst.Modern(),
	}

	// Inherited Erlang and ejabberd variables (ERL_FLAGS, ERL_AFLAGS,
	// EJABBERD_CONFIG_PATH, …) must not reach the VM.
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ERL_") || strings.HasPrefix(name, "EJABBERD") ||
			strings.HasPrefix(name, "CONTRIB_MODULES") || name == "HOME" {
			continue
		}
		s.env = append(s.env, kv)
	}
	s.env = append(s.env,
		// What /usr/sbin/ejabberdctl exports for `foreground`.
		"EJABBERD_CONFIG_PATH="+s.configFile,
		"EJABBERD_LOG_PATH="+s.logFile,
		"ERL_LIBS="+inst.libs,
		"ERL_CRASH_DUMP="+filepath.Join(logDir, "erl_crash.dump"),
		"ERL_CRASH_DUMP_BYTES=0",
		"ERL_MAX_PORTS=32000",
		// No ~/.erlang, no ~/.ejabberd-modules of the user's.
		"HOME="+s.dir,
		"CONTRIB_MODULES_PATH="+filepath.Join(s.dir, "modules"),
	)
	s.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	ok = true
	return s, nil
}

// ctlScript is Debian's ejabberdctl; it knows where the ejabberd
// application is (ERL_LIBS) and which erl to use.
const ctlScript = "/usr/sbin/ejabberdctl"

var (
	ctlLibsRE = regexp.MustCompile(`(?m)^ERL_LIBS='?([^'\n]+)'?$`)
	ctlErlRE  = regexp.MustCompile(`(?m)^ERL="?([^"\n]+)"?$`)
)

// findStable locates erl and the ejabberd application of Debian's package.
func findStable() (Install, error) {
	inst := Install{Version: Version2301}
	var candidates []string
	if script, err := os.ReadFile(ctlScript); err == nil {
		if m := ctlLibsRE.FindSubmatch(script); m != nil {
			candidates = append(candidates, string(m[1]))
		}
		if m := ctlErlRE.FindSubmatch(script); m != nil {
			if _, err := os.Stat(string(m[1])); err == nil {
				inst.erl = string(m[1])
			}
		}
	}
	if globbed, _ := filepath.Glob("/usr/lib/*/ejabberd-*/ebin/ejabberd.app"); len(globbed) > 0 {
		candidates = append(candidates, filepath.Dir(filepath.Dir(filepath.Dir(globbed[0]))))
	}
	candidates = append(candidates, "/usr/lib/erlang/lib")
	for _, c := range candidates {
		if m, _ := filepath.Glob(filepath.Join(c, "ejabberd-*", "ebin", "ejabberd.app")); len(m) > 0 {
			inst.libs = c
			break
		}
	}
	if inst.erl == "" {
		inst.erl, _ = exec.LookPath("erl")
	}
	if inst.erl == "" || inst.libs == "" {
		return inst, fmt.Errorf("%w: install it with apt-get install -y ejabberd (scripts/setup.sh does)", ErrNotInstalled)
	}
	return inst, nil
}

// findModern locates ejabberd 24.12 where scripts/setup.sh extracted it:
// its ERL_LIBS (the private tree's ejabberd and backported libraries, ahead
// of bookworm's /usr/lib/erlang/lib) and bookworm's erl (Erlang 25).
func findModern() (Install, error) {
	inst := Install{Version: Version2412}
	dir := filepath.Join(prosody.ServersDir(), "ejabberd-24.12")
	howTo := fmt.Errorf("%w: 24.12: run scripts/setup.sh, which extracts it from Debian's bookworm-backports into %s (XMPPBG_SERVERS_DIR)", ErrNotInstalled, prosody.ServersDir())
	libs, err := os.ReadFile(filepath.Join(dir, "libs"))
	if err != nil {
		return inst, howTo
	}
	inst.libs = strings.TrimSpace(string(libs))
	first, _, _ := strings.Cut(inst.libs, ":")
	if m, _ := filepath.Glob(filepath.Join(first, "ejabberd-24.12*", "ebin", "ejabberd.app")); len(m) == 0 {
		return inst, howTo
	}
	if inst.erl, err = exec.LookPath("erl"); err != nil {
		return inst, fmt.Errorf("%w: ejabberd 24.12 runs on bookworm's Erlang: apt-get install -y ejabberd (or scripts/setup.sh) brings it", ErrNotInstalled)
	}
	return inst, nil
}

// Versions of ejabberd that Start can run (Options.Version).
const (
	// Version2301 is Debian 12's ejabberd 23.01, the default.
	Version2301 = "23.01"
	// Version2412 is ejabberd 24.12 from bookworm-backports, extracted by
	// scripts/setup.sh under prosody.ServersDir() and run on bookworm's
	// Erlang 25.
	Version2412 = "24.12"
)

// Install is where one ejabberd version is.
type Install struct {
	// Version is Version2301 or Version2412.
	Version string
	erl     string // the erl launcher
	libs    string // ERL_LIBS: directories holding ejabberd-VERSION/ and its libraries
}

// Modern reports whether this ejabberd offers SASL2, Bind2 and FAST.
func (i Install) Modern() bool { return i.Version == Version2412 }

// Find locates the given version ("" is Version2301). The error wraps
// ErrNotInstalled and says how to install it.
func Find(version string) (Install, error) {
	switch version {
	case "", Version2301:
		return findStable()
	case Version2412:
		return findModern()
	default:
		return Install{}, fmt.Errorf("ejabberd: Version %q: want %q or %q", version, Version2301, Version2412)
	}
}

// ErrNotInstalled is returned (wrapped) by Start when the asked for
// ejabberd is not installed.
var ErrNotInstalled = errors.New("ejabberd: not installed")

// Installed reports whether Start can find Debian's ejabberd; see Find for
// the others.
func Installed() bool {
	_, err := Find("")
	return err == nil
}

// startLocal picks free ports, starts the server (retrying with new ports
// when one was taken in the meantime) and registers the accounts.
func (s *Server) startLocal(ctx context.Context, opts Options) error {
	const attempts = 3
	nports := 2 // c2s and the HTTP API
	if opts.DirectTLSPort {
		nports++
	}
	var err error
	for range attempts {
		var ports []int
		if ports, err = serverproc.FreePorts(s.host, nports); err != nil {
			return fmt.Errorf("ejabberd: %w", err)
		}
		s.port, s.apiPort = ports[0], ports[1]
		if opts.DirectTLSPort {
			s.tlsPort = ports[2]
		}
		s.params.Port, s.params.APIPort, s.params.TLSPort = s.port, s.apiPort, s.tlsPort
		s.mu.Lock()
		err = s.launch(ctx)
		s.mu.Unlock()
		if err == nil || !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		return err
	}
	if err := s.RegisterMany(ctx, opts.Accounts); err != nil {
		s.Stop()
		return err
	}
	return nil
}

var errPortTaken = errors.New("port already in use")

// launch writes the config and starts the VM on s.port and s.apiPort, and
// waits until the server answers. On failure the process is gone. Called
// with s.mu held.
func (s *Server) launch(ctx context.Context) error {
	cfg, err := renderConfig(s.params)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.configFile, cfg, 0o644); err != nil {
		return fmt.Errorf("ejabberd: %w", err)
	}
	logStart := serverproc.FileSize(s.logFile)
	console, err := os.OpenFile(s.consoleFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("ejabberd: %w", err)
	}
	// What `ejabberdctl foreground` runs, without the switch to the
	// ejabberd user and without a node name: the VM is not distributed, so
	// no epmd is started and instances cannot clash over node names.
	cmd := exec.Command(s.erlBin, "-noinput", "-mnesia", "dir", `"`+s.spoolDir+`"`, "-s", "ejabberd")
	cmd.Dir = s.dir
	cmd.Env = s.env
	cmd.Stdout = console
	cmd.Stderr = console
	cmd.SysProcAttr = serverproc.SysProcAttr()
	started := time.Now()
	if err := cmd.Start(); err != nil {
		console.Close()
		return fmt.Errorf("ejabberd: start %s: %w", s.erlBin, err)
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
	s.bootTime = time.Since(started)
	return nil
}

// Log text telling that a listener could not bind its port; ejabberd then
// stops.
var bindFailures = []string{"eaddrinuse", "address already in use"}

// waitReady polls until the VM listens on both ports and answers there, the
// process exits, or ctx/DefaultReadyTimeout expires.
func (s *Server) waitReady(ctx context.Context, p *process, logStart int64) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultReadyTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	pid := p.cmd.Process.Pid
	for {
		if p.exited() {
			newLog := serverproc.ReadFrom(s.logFile, logStart)
			for _, f := range bindFailures {
				if bytes.Contains(newLog, []byte(f)) {
					return fmt.Errorf("ejabberd: %w (ports %d, %d): %s", errPortTaken, s.port, s.apiPort, serverproc.LastLines(string(newLog), 5))
				}
			}
			return fmt.Errorf("ejabberd: server exited during startup (%v)%s", p.err, s.failureDetails())
		}
		var err error
		if !serverproc.Listening(pid, s.port) || !serverproc.Listening(pid, s.apiPort) ||
			(s.tlsPort != 0 && !serverproc.Listening(pid, s.tlsPort)) {
			err = errors.New("server process not listening yet")
		} else if err = serverproc.ProbeStream(ctx, s.Addr(), s.domain, nil); err == nil {
			var status json.RawMessage
			if status, err = s.Call(ctx, "status", struct{}{}); err == nil {
				// "... ejabberd 24.12-3~bpo12+1 is running in that
				// node": the asked for code runs, not another
				// install's.
				if !regexp.MustCompile(`ejabberd ` + regexp.QuoteMeta(s.version) + `[- ]`).Match(status) {
					return fmt.Errorf("ejabberd: status says %s, want ejabberd %s", status, s.version)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ejabberd: server not ready on %s: %w (last check: %v)%s",
				s.Addr(), ctx.Err(), err, s.failureDetails())
		case <-p.done:
		case <-tick.C:
		}
	}
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

// kill sends sig to the VM, waits up to StopTimeout for it to exit, then
// SIGKILLs the whole process group (erl_child_setup, inet_gethost, …);
// stray members of the group are killed in any case.
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

// durableAfter is how long Mnesia takes to put a write on disk: ejabberd
// killed sooner (SIGKILL) loses it. Measured on 23.01: an account registered
// 1 s before a SIGKILL is lost, one registered 1.5 s before is kept.
const durableAfter = 2500 * time.Millisecond

// Restart stops the server with sig (normally syscall.SIGTERM, which the VM
// turns into an orderly shutdown, or syscall.SIGKILL; after StopTimeout it
// is killed anyway) and starts it again on the same ports with the same data
// (Mnesia: accounts, rosters, offline storage), returning once it answers.
//
// Mnesia writes reach the disk a second or two late, so a server killed
// without an orderly shutdown loses its last writes, as a crashed ejabberd
// does. Accounts registered through Register always survive: with a signal
// other than SIGTERM, Restart first waits until the last registration is
// durableAfter old.
func (s *Server) Restart(ctx context.Context, sig os.Signal) error {
	if sig == nil {
		return errors.New("ejabberd: restart: nil signal")
	}
	if sig != syscall.SIGTERM {
		s.mu.Lock()
		wait := time.Until(s.lastWrite.Add(durableAfter))
		s.mu.Unlock()
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return fmt.Errorf("ejabberd: restart: %w", ctx.Err())
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("ejabberd: restart: server stopped")
	}
	if s.proc != nil {
		s.kill(s.proc, sig)
		s.proc = nil
	}
	s.http.CloseIdleConnections() // to the old process
	if err := s.launch(ctx); err != nil {
		return fmt.Errorf("ejabberd: restart: %w", err)
	}
	return nil
}

// Stop stops the server and removes the temp dir if Start created it. It is
// idempotent. A server whose data is kept (Options.Dir) gets SIGTERM, an
// orderly shutdown of about a second, then SIGKILL of its process group
// after StopTimeout; one whose temp dir is removed anyway is SIGKILLed at
// once.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return s.stopErr
	}
	s.stopped = true
	if s.proc != nil {
		sig := syscall.SIGTERM
		if s.ownDir {
			sig = syscall.SIGKILL
		}
		s.kill(s.proc, sig)
		s.proc = nil
	}
	s.http.CloseIdleConnections()
	s.stopErr = s.cleanupDir()
	return s.stopErr
}

func (s *Server) cleanupDir() error {
	if !s.ownDir || s.dir == "" {
		return nil
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("ejabberd: remove %s: %w", s.dir, err)
	}
	return nil
}

// Addr is the "host:port" of the c2s (STARTTLS) port.
func (s *Server) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// DirectTLSAddr is the "host:port" of the XEP-0368 direct TLS port, or ""
// when not enabled (Options.DirectTLSPort).
func (s *Server) DirectTLSAddr() string {
	if s.tlsPort == 0 {
		return ""
	}
	return net.JoinHostPort(s.host, strconv.Itoa(s.tlsPort))
}

// APIAddr is the "host:port" of the mod_http_api listener (loopback only).
func (s *Server) APIAddr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.apiPort)) }

// Domain is the server's XMPP domain.
func (s *Server) Domain() string { return s.domain }

// CAFile is the path of the PEM certificate clients should trust.
func (s *Server) CAFile() string { return s.caFile }

// CertPool is a pool holding CAFile's certificate.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Version is the ejabberd that runs: Version2301 or Version2412.
func (s *Server) Version() string { return s.version }

// Hibernation is the server's resume_timeout.
func (s *Server) Hibernation() time.Duration { return s.hibernation }

// Dir is the directory holding config, certificate, spool and logs.
func (s *Server) Dir() string { return s.dir }

// ConfigFile is the path of the rendered ejabberd.yml.
func (s *Server) ConfigFile() string { return s.configFile }

// PID is the process id of the running Erlang VM (beam.smp), 0 if none.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// BootTime is how long the last start (or restart) took from launching the
// VM until the server answered on both ports.
func (s *Server) BootTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bootTime
}

// LogTail returns the last n lines of ejabberd.log ("" when there is no log
// yet).
func (s *Server) LogTail(n int) string {
	return serverproc.Tail(s.logFile, n)
}

// loadCertPool reads a PEM file into a new pool.
func loadCertPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ejabberd: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("ejabberd: no PEM certificate in %s", file)
	}
	return pool, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/session"
)

// Exit codes, documented in the root command's help.
const (
	exitOK      = 0 // success
	exitError   = 1 // any other error
	exitUsage   = 2 // bad flags or arguments, missing --jid or password
	exitAuth    = 3 // authentication failed (session.AuthError)
	exitCert    = 4 // no verified TLS (session.CertificateError, session.TLSError)
	exitConn    = 5 // connection or network error (session.ConnError, dial)
	exitTimeout = 6 // not acknowledged in time, listen --timeout before --count
	exitFailed  = 7 // a demo scenario ran but failed an expectation
	exitBounced = 8 // send: a message came back with an error (bounced)
)

// Environment variables read by xmppbg.
const (
	envJID      = "XMPPBG_JID"
	envPassword = "XMPPBG_PASSWORD"
)

const exitCodesHelp = `Exit codes:
  0  success
  1  other error (e.g. the server does not serve the JID's domain)
  2  usage or configuration error (bad flags or arguments, an invalid JID
     or address, missing --jid or password, a file named by a flag or the
     configuration that cannot be read)
  3  authentication failed (wrong JID or password)
  4  no trusted TLS: the certificate is not trusted (see --ca-file), or
     the server offers or completes no STARTTLS (never plaintext)
  5  connection or network error (refused, unreachable, reset, no XMPP
     server on that port)
  6  timeout (message not acknowledged in time, no answer to the login,
     listen --timeout before --count, chat left with messages unacknowledged)
  7  a demo scenario ran but failed one of its expectations
  8  send: a message bounced (the server sent an error back for it)`

// IOStreams are the standard streams a command uses; tests inject buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// globalOptions holds the persistent flags and what every command shares.
type globalOptions struct {
	IO     *IOStreams
	Getenv func(string) string
	// OpenTTY opens the controlling terminal for the password prompt when
	// stdin is not a terminal; nil (tests) means there is none.
	OpenTTY func() (*os.File, error)

	JID                string
	Addr               string
	DirectTLS          bool
	NoSASL2            bool
	CAFile             string
	InsecureSkipVerify bool
	PasswordFile       string
	PasswordCommand    string
	LoginTimeout       time.Duration
	JSON               bool
	LogLevel           string
	ConfigFile         string

	// ctx is the command's context, cancelled by SIGINT and SIGTERM.
	ctx context.Context

	// ran is set when a command's RunE starts: an error before that is a
	// usage error (flags, arguments, unknown command).
	ran bool

	outOnce sync.Once
	out     *output
}

// Output returns the command's output, in JSON mode when --json was given.
// It is created on first use, once the flags are parsed.
func (g *globalOptions) Output() *output {
	g.outOnce.Do(func() { g.out = newOutput(g.IO.Out, g.IO.ErrOut, g.JSON) })
	return g.out
}

// usageError is an error in the command line: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// errTimeout is wrapped by errors for things that did not happen in time.
var errTimeout = errors.New("timed out")

// cliError gives an error from package session a message for the user,
// keeping the original for exitCode.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	var (
		usage *usageError
		auth  *session.AuthError
		cert  *session.CertificateError
		tlsE  *session.TLSError
		conn  *session.ConnError
		opE   *net.OpError
		dnsE  *net.DNSError
		pathE *fs.PathError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage), errors.Is(err, session.ErrConfig):
		return exitUsage
	case errors.As(err, &pathE) && !errors.As(err, &conn):
		// A file named by a flag or the configuration (a syscall.Errno
		// inside would otherwise pass for a network error).
		return exitUsage
	case errors.Is(err, session.ErrNoService):
		// The domain's DNS says it has no XMPP service: the server does
		// not serve the domain, not a network fault.
		return exitError
	case errors.Is(err, errScenarioFailed):
		return exitFailed
	case errors.Is(err, errBounced):
		return exitBounced
	case errors.As(err, &auth):
		return exitAuth
	case errors.As(err, &cert), errors.As(err, &tlsE):
		return exitCert
	case errors.Is(err, errTimeout), errors.Is(err, context.DeadlineExceeded):
		return exitTimeout
	case errors.As(err, &conn), errors.As(err, &opE), errors.As(err, &dnsE), errors.Is(err, errNotXMPP), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return exitConn
	}
	return exitError
}

// run runs xmppbg with the process's arguments and streams; SIGINT,
// SIGTERM and SIGHUP (the terminal closed) cancel the command's context, so
// that it ends as it should: chat leaves, server removes its files (a
// second signal kills the process, except while chat is leaving, where it
// ends the waits).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	context.AfterFunc(ctx, stop)
	return runMain(ctx, args, &IOStreams{In: stdin, Out: stdout, ErrOut: stderr}, os.Getenv, openTTY)
}

// runContext runs xmppbg with args, reports the error if any, and returns the
// exit code.
func runContext(ctx context.Context, args []string, ios *IOStreams, getenv func(string) string) int {
	return runMain(ctx, args, ios, getenv, nil)
}

// runMain is runContext with the way to open the controlling terminal
// (nil: none).
func runMain(ctx context.Context, args []string, ios *IOStreams, getenv func(string) string, tty func() (*os.File, error)) int {
	g := &globalOptions{IO: ios, Getenv: getenv, OpenTTY: tty, ctx: ctx}
	root := newCmdRoot(g)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if !g.ran {
		var u *usageError
		if !errors.As(err, &u) {
			err = &usageError{err}
		}
	}
	code := exitCode(err)
	o := g.Output()
	o.Error(err.Error(), code)
	if code == exitUsage && !o.JSON() && cmd != nil {
		fmt.Fprintf(o.Stderr(), "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// newCmdRoot returns the root command with its persistent flags and
// subcommands.
func newCmdRoot(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "xmppbg <command> [flags]",
		Short: "An XMPP client with XEP-0198 stream management",
		Long: `xmppbg is a command-line XMPP client. It logs in with TLS and SASL, uses
XEP-0198 stream management when the server offers it, and reports what
happened as human text or, with --json, as JSON lines on stdout.

The password is read from the environment variable XMPPBG_PASSWORD, else from
--password-file, else from the output of --password-command (a password
manager: password-command = pass show xmpp/alice in the configuration file),
else from a prompt on the terminal (also when stdin is a pipe; Ctrl-C there
gives up). There is no --password flag: a command line is visible to every
user of the machine.

Settings can be kept in a configuration file ($XDG_CONFIG_HOME/xmppbg/config,
or --config FILE): one "flag-name = value" per line, e.g. "jid = alice@example.org",
or go-sendxmpp's "key: value" (its username and eval_password are read as jid
and password-command). Flags and environment variables override it.

` + exitCodesHelp,
		Version:       programVersion(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(g.IO.In)
	root.SetOut(g.IO.Out)
	root.SetErr(g.IO.ErrOut)
	root.SetVersionTemplate("xmppbg {{.Version}}\n")
	// "xmppbg completion bash|zsh|fish|powershell" writes a completion
	// script (cobra's standard command).
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		return g.applyConfig(cmd)
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		if strings.Contains(err.Error(), "--password") && !strings.Contains(err.Error(), "--password-file") {
			return usageErrorf("%v (passwords are never taken on the command line: set %s, use --password-file FILE, or type it at the prompt)", err, envPassword)
		}
		return &usageError{flagError(err)}
	})

	pf := root.PersistentFlags()
	pf.StringVar(&g.JID, "jid", "", "account `JID`, user@domain (env "+envJID+")")
	pf.StringVar(&g.Addr, "addr", "", "server `HOST:PORT` to connect to (default: found through DNS SRV for the JID's domain, else its port 5222)")
	pf.BoolVar(&g.DirectTLS, "direct-tls", false, "start TLS at once (XEP-0368) instead of STARTTLS, saving two round trips; --addr is then the server's direct TLS port (without it: DNS SRV's _xmpps-client servers first, then its _xmpp-client ones with STARTTLS; without SRV records DOMAIN:5223, then DOMAIN:5222 with STARTTLS)")
	pf.BoolVar(&g.NoSASL2, "no-sasl2", false, "log in the classic way (SASL, a stream restart, bind or resume) even when the server offers SASL2, Bind2 and FAST tokens (XEP-0388, -0386, -0484)")
	pf.StringVar(&g.CAFile, "ca-file", "", "trust only the PEM certificates in `FILE`")
	pf.BoolVar(&g.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the server's TLS certificate (test servers only)")
	pf.StringVar(&g.PasswordFile, "password-file", "", "read the password from the first line of `FILE`")
	pf.StringVar(&g.PasswordCommand, "password-command", "", "run `CMD` (through the shell) and use the first line it prints as the password, e.g. \"pass show xmpp\"")
	pf.DurationVar(&g.LoginTimeout, "login-timeout", session.DefaultLoginTimeout, "give up a login (dial, TLS, authentication) that takes longer than `DURATION`")
	pf.BoolVar(&g.JSON, "json", false, "write JSON lines to stdout, one event per line")
	pf.StringVar(&g.LogLevel, "log-level", "warn", "log `LEVEL` on stderr: debug, info, warn or error")
	pf.StringVar(&g.ConfigFile, "config", "", "read settings from `FILE` (default $XDG_CONFIG_HOME/xmppbg/config; env "+envConfig+")")

	root.AddCommand(
		newCmdSend(g, nil),
		newCmdListen(g, nil),
		newCmdChat(g, nil),
		newCmdDemo(g, nil),
		newCmdVersion(g),
		newCmdServer(g, nil),
	)
	setupCompletion(root)
	return root
}

// flagError rewords pflag's error for a bad flag value, which quotes Go
// ("strconv.ParseBool: parsing …", "time: invalid duration …").
func flagError(err error) error {
	msg := err.Error()
	i := strings.Index(msg, " flag: ")
	if !strings.HasPrefix(msg, "invalid argument ") || i < 0 {
		return err
	}
	why := "invalid value"
	switch rest := msg[i+len(" flag: "):]; {
	case strings.HasPrefix(rest, "strconv.ParseBool"):
		why = "want true or false"
	case strings.HasPrefix(rest, "time: "):
		why = "want a duration such as 500ms, 30s or 2m"
	case strings.HasPrefix(rest, "strconv.Parse"):
		why = "want a whole number"
	}
	return &cliError{msg: msg[:i+len(" flag")] + ": " + why, err: err}
}

// started marks that a command's RunE began, then checks the flags every
// command shares.
func (g *globalOptions) started() error {
	g.ran = true
	switch strings.ToLower(g.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return usageErrorf("invalid --log-level %q: want debug, info, warn or error", g.LogLevel)
	}
	if g.LoginTimeout <= 0 {
		return usageErrorf("--login-timeout must be positive")
	}
	return nil
}

// logger returns the slog logger for --log-level, writing text to stderr.
func (g *globalOptions) logger() *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(g.LogLevel) {
	case "debug":
		lvl = slog.LevelDebug
	case "info":
		lvl = slog.LevelInfo
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(g.Output().Stderr(), &slog.HandlerOptions{Level: lvl}))
}

// usageArgs turns the errors of an argument check into usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

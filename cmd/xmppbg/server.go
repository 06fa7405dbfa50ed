package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/xmppbg/xmppbg/internal/prosody"
)

// serverOptions are the options of "xmppbg server".
type serverOptions struct {
	g           *globalOptions
	Hibernation time.Duration
	MAM         bool
	// Prosody is the version to run: prosody.Version012 or Version13.
	Prosody string
	// ready, when set, is called with the running server (tests).
	ready func(*prosody.Server, map[string]string)
}

func newCmdServer(g *globalOptions, runF func(context.Context, *serverOptions) error) *cobra.Command {
	opts := &serverOptions{g: g}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a throwaway local Prosody server with two accounts",
		Long: `Run a throwaway local Prosody XMPP server (the Debian prosody binary, in the
foreground) on a free port of 127.0.0.1, with a self-signed certificate and two
accounts, alice and bob, whose random passwords are written to files readable
by you only. It prints how to connect, runs until interrupted (Ctrl-C), then
stops the server and removes everything it created.

Install Prosody first: sudo apt-get install prosody (or scripts/setup.sh).

--prosody 13 runs Prosody 13 instead, with the modern login (SASL2, Bind2,
FAST, inline stream resumption) and a direct TLS port (XEP-0368) beside the
STARTTLS one. scripts/setup.sh extracts it from Debian's bookworm-backports
into /opt/xmppbg/servers (or $XMPPBG_SERVERS_DIR), beside the system's Prosody.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.started(); err != nil {
				return err
			}
			if opts.Hibernation < time.Second {
				return usageErrorf("--hibernation must be at least 1s")
			}
			opts.Hibernation = opts.Hibernation.Truncate(time.Second)
			switch opts.Prosody {
			case prosody.Version012, prosody.Version13:
			default:
				return usageErrorf("--prosody %q: want %s or %s", opts.Prosody, prosody.Version012, prosody.Version13)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runServer(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Hibernation, "hibernation", 60*time.Second, "how long the server keeps a lost stream resumable (XEP-0198)")
	cmd.Flags().BoolVar(&opts.MAM, "mam", false, "enable the message archive (XEP-0313)")
	cmd.Flags().StringVar(&opts.Prosody, "prosody", prosody.Version012, "Prosody version: 0.12 (the system's) or 13 (SASL2, FAST, direct TLS; from scripts/setup.sh)")
	return cmd
}

// errNoProsody explains how to get the server binary.
var errNoProsody = errors.New("the prosody binary is not installed: install it with 'sudo apt-get install prosody' (or run scripts/setup.sh)")

// errNoProsody13 explains how to get Prosody 13.
func errNoProsody13() error {
	return fmt.Errorf("prosody 13 is not installed in %s: run scripts/setup.sh, which extracts it from Debian's bookworm-backports there, beside the system's Prosody (XMPPBG_SERVERS_DIR chooses another directory)", prosody.ServersDir())
}

func randomPassword() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

func runServer(ctx context.Context, opts *serverOptions) error {
	o := opts.g.Output()
	modern := opts.Prosody == prosody.Version13
	if _, err := prosody.Find(opts.Prosody); err != nil {
		if modern {
			return errNoProsody13()
		}
		return errNoProsody
	}
	accounts := map[string]string{"alice": randomPassword(), "bob": randomPassword()}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	srv, err := prosody.Start(startCtx, prosody.Options{
		Accounts: accounts, Hibernation: opts.Hibernation, MAM: opts.MAM,
		Version: opts.Prosody, DirectTLSPort: modern,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("starting prosody: %w", err)
	}
	defer srv.Stop()

	files := map[string]string{}
	for user, pw := range accounts {
		path := filepath.Join(srv.Dir(), user+".password")
		if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
			return err
		}
		files[user] = path
	}
	alice, bob := "alice@"+srv.Domain(), "bob@"+srv.Domain()
	common := fmt.Sprintf("--addr %s --ca-file %s", srv.Addr(), srv.CAFile())
	name, extra := "Prosody", ""
	fields := []Field{F("version", srv.Version())}
	if modern {
		// The fastest login: direct TLS, then SASL2 with FAST.
		common = fmt.Sprintf("--addr %s --direct-tls --ca-file %s", srv.DirectTLSAddr(), srv.CAFile())
		name = "Prosody 13"
		extra = fmt.Sprintf("\nDirect TLS (XEP-0368) on %s; STARTTLS on %s.\n", srv.DirectTLSAddr(), srv.Addr())
		fields = append(fields, F("direct_tls_addr", srv.DirectTLSAddr()))
	}
	o.Event("server", fmt.Sprintf(`%s is running (pid %d) on %s for the domain %s.
%s
Accounts (passwords in files readable by you only):
  %s   --password-file %s
  %s     --password-file %s

Try, in two terminals:
  xmppbg listen --jid %s --password-file %s %s
  xmppbg chat   --jid %s --password-file %s %s --to %s

Press Ctrl-C to stop the server; its files are removed.`,
		name, srv.PID(), srv.Addr(), srv.Domain(), extra,
		alice, files["alice"], bob, files["bob"],
		bob, files["bob"], common,
		alice, files["alice"], common, bob),
		append([]Field{F("addr", srv.Addr()), F("domain", srv.Domain()), F("ca_file", srv.CAFile()), F("pid", srv.PID()),
			F("hibernation_s", int(srv.Hibernation()/time.Second)),
			F("accounts", map[string]any{
				alice: map[string]string{"password_file": files["alice"]},
				bob:   map[string]string{"password_file": files["bob"]},
			})}, fields...)...)
	if opts.ready != nil {
		opts.ready(srv, files)
	}
	<-ctx.Done()
	o.Status("state", "stopping the server", F("state", "stopped"))
	return nil
}

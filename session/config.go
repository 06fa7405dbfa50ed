package session

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"mellium.im/xmpp/jid"
)

// Defaults for the zero values of Config.
const (
	// DefaultPort is the XMPP client port used when Config.Addr is empty.
	DefaultPort = "5222"
	// DefaultLoginTimeout bounds dialing and stream negotiation.
	DefaultLoginTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds every write once the session is up; a write
	// that cannot drain in that time means the connection is dead.
	DefaultWriteTimeout = 15 * time.Second
	// DefaultAckTimeout is how long stanzas written may wait for the
	// server's <a/> (or, without stream management, for the answer to a
	// ping sent after them) before the connection is declared dead. A
	// healthy mobile link answers in well under a second; a slow one
	// (EDGE, a congested cell) in 1 to 3 s, and a radio waking from idle
	// adds up to 2 s more. 10 s leaves room for all of that, and for a
	// server under load, while a message typed into a connection that died
	// silently is resent on a new one within about 10 s instead of
	// waiting minutes for the kernel or the idle probe.
	DefaultAckTimeout = 10 * time.Second
	// DefaultMaxStanzaBytes bounds the size of one incoming stanza, in bytes
	// as received (after TLS, before unescaping). A larger stanza is skipped
	// and reported (Skipped), never a connection fault. Servers bound what
	// they accept (Prosody and ejabberd: 256 KiB by default), not what they
	// send after escaping: Prosody writes ' and " as 6-byte entities, so
	// 256 KiB of apostrophes arrives as 1.5 MB. 8 MiB is well above that,
	// and still a bound on what one stanza may make the client hold.
	DefaultMaxStanzaBytes = 8 << 20
	// DefaultMaxSendBytes bounds one outgoing message, in bytes as written
	// (CheckSize): 255 KiB, 1 KiB under the default limit of Prosody (0.12
	// and 13) and ejabberd (23.01 and 24.12) for a client's stanza, 256
	// KiB, which ejabberd applies to a count a few dozen bytes above what
	// was written (measured: a message resent with its delay passes up to
	// 262,085 bytes). A server closes the connection on a larger stanza,
	// and a client that then sent it again at every login would never get
	// through.
	DefaultMaxSendBytes = 255 << 10
)

// Config configures a Session. The zero value of every field but JID and
// Password is a documented default.
type Config struct {
	// JID is the account's address, user@domain, optionally with a resource
	// (servers may not honour it; Session.JID returns what was bound).
	JID string
	// Password is the account's password. It is never logged.
	Password string
	// Addr is the host:port to connect to. Default: the server found
	// through DNS SRV for the JID's domain (RFC 6120 §3.2, XEP-0368; see
	// Resolver), else the domain on DefaultPort. A resumable State's
	// location, when the server gave one, is tried first.
	Addr string
	// Resolver looks up the SRV records of the JID's domain when Addr is
	// empty: _xmpps-client._tcp (direct TLS) and _xmpp-client._tcp
	// (STARTTLS), merged and tried in the order of their priority and
	// weight (with DirectTLS, the direct TLS ones first, then the
	// STARTTLS ones), each given a share of LoginTimeout; without records,
	// the domain on DefaultPort with STARTTLS (with DirectTLS, first on
	// DefaultDirectTLSPort with direct TLS). The lookups may take a third
	// of LoginTimeout: a resolver that has not answered by then counts as
	// no records (RFC 6120 §3.2.2). A resumption or a FAST login first
	// tries the server the last session was connected to (State.Server).
	// The certificate is verified against the JID's domain, never an SRV
	// target. It must return when its context ends. Default
	// net.DefaultResolver.
	Resolver Resolver
	// TLS configures STARTTLS. Default: certificates verified against the
	// system roots for the JID's domain, TLS 1.2 at least, and TLS sessions
	// resumed across connections (a process-wide ClientSessionCache). See
	// TLSConfig. A given configuration is used as it is: keep one value for
	// all the connections of an account, with a ClientSessionCache, so that
	// reconnects resume its TLS session.
	TLS *tls.Config
	// DirectTLS starts TLS at once (XEP-0368, ALPN "xmpp-client") instead of
	// STARTTLS, saving two round trips; Addr must then be the server's
	// direct TLS port. With Addr empty it is a preference (see Resolver):
	// the domain's direct TLS servers are tried first, then its STARTTLS
	// ones, since STARTTLS is always required and verified too.
	DirectTLS bool
	// NoPipelining turns off pipelining: by default the request that follows
	// SASL (<resume/>, or the bind request and <enable/>) goes out with the
	// new stream header instead of after the server's features, and
	// <enable/> goes out with the bind request, saving round trips; with
	// SASL2, <authenticate/> goes out with the stream header. Turn it off
	// for a server that mishandles it.
	NoPipelining bool
	// NoSASL2 turns off SASL2 (XEP-0388) and what comes with it: Bind2
	// (XEP-0386), FAST tokens (XEP-0484) and the resumption inside the
	// authentication. The login is then the classic one (SASL, a stream
	// restart, bind or <resume/>) even when the server offers SASL2. By
	// default SASL2 is used whenever the server offers it, and the login
	// after one that saw it sends the stream header and <authenticate/>
	// together: with a FAST token and direct TLS, a resumption takes three
	// round trips, TCP's included.
	NoSASL2 bool
	// Dial opens the TCP connection. Default: Config.Dialer's, with the
	// keepalive and TCP_USER_TIMEOUT below. Package suspend and the tests
	// wrap connections here to inject faults.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// KeepAlive is the TCP keepalive idle time and interval of the default
	// dialer. Default DefaultKeepAlive; negative turns keepalives off.
	KeepAlive time.Duration
	// TCPUserTimeout bounds how long written data may stay unacknowledged
	// by the peer's TCP before the kernel fails the connection (Linux's
	// TCP_USER_TIMEOUT; nothing elsewhere), with the default dialer.
	// Default DefaultTCPUserTimeout; negative leaves the kernel's default.
	TCPUserTimeout time.Duration
	// OnEvent receives the session's events, in order, on the session's
	// event goroutine (not the read loop; see the package doc). An incoming stanza counts as handled (for XEP-0198)
	// once OnEvent returns for it. It must not block for long. Default:
	// events are dropped, which acknowledges incoming messages unread.
	OnEvent func(Event)
	// Persist, when set, receives a copy of the State after every change
	// worth keeping: a stanza queued, acknowledged or handled, a stream
	// enabled, resumed or detached. Calls are serialised and in order, so
	// saving each copy (State.Save) keeps a file that another process can
	// resume from with nothing lost or duplicated. It runs on the goroutine
	// that made the change (the sender's for an outgoing stanza, the event
	// goroutine for an incoming one, the read loop for an acknowledgement),
	// never under the lock the read loop needs to answer the server.
	//
	// It must return promptly: while it runs, other senders wait, the Sent
	// of the message being saved waits (and every event after it), and
	// the read loop waits at its next acknowledgement. One that never
	// returns stalls the session for good, and Abort, Detach and Close,
	// which wait for the last event, with it. Persist has no error to
	// return: a failed save it cannot handle itself should panic. The
	// session recovers the panic and ends with a *PersistError holding the
	// panic value, whichever goroutine it ran on; a message whose save
	// panicked is not taken (SendMessage returns the error, no Sent is
	// reported), and the State in memory stays intact for the next
	// Connect.
	Persist func(*State)
	// Logger receives diagnostics. Default: slog.Default().
	Logger *slog.Logger
	// DisableSM turns XEP-0198 stream management off even when the server
	// offers it. Without it nothing guarantees delivery.
	DisableSM bool
	// NoPresence skips the initial presence on a fresh session. Without a
	// presence the server delivers no offline messages and routes no chat to
	// this resource.
	NoPresence bool
	// NoArchive turns off the archive catch-up (XEP-0313) that follows a
	// stream that could not be resumed.
	NoArchive bool
	// FetchRoster asks for the roster on a fresh session before the initial
	// presence, as full clients do.
	FetchRoster bool
	// LoginTimeout bounds dialing and negotiation. Default
	// DefaultLoginTimeout. The deadline is put on the socket itself, and
	// expires before the context's when that is earlier.
	LoginTimeout time.Duration
	// WriteTimeout bounds each write. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// AckTimeout bounds the wait for the server to acknowledge stanzas
	// written (XEP-0198 <a/>; without stream management, the answer to
	// a XEP-0199 ping sent after them). Past it the session ends with
	// ErrAckTimeout and the next session resends what is unacknowledged.
	// Default DefaultAckTimeout; negative turns it off.
	AckTimeout time.Duration
	// MaxStanzaBytes bounds one incoming stanza, in bytes as received. A
	// larger stanza is dropped as it streams (never buffered whole),
	// reported as Skipped and counted as handled; the stream goes on. Only
	// a single tag larger than this, which no server sends, ends the stream
	// (ErrStanzaTooLarge). It also bounds what the login may read. Default
	// DefaultMaxStanzaBytes.
	MaxStanzaBytes int
	// MaxSendBytes bounds one outgoing message, in bytes as written,
	// resend included (see CheckSize): SendMessage refuses a larger one
	// with ErrTooLarge and takes nothing. Default DefaultMaxSendBytes;
	// negative: no bound (for a server configured with a larger limit). A
	// server that states its own, lower limit (XEP-0478; Prosody 13 does)
	// lowers it: see State.SendBound.
	MaxSendBytes int

	// srvDomain is the domain whose SRV records give the addresses to
	// try, "" when Addr was given.
	srvDomain string
	// plaintext skips TLS; for in-memory tests only (export_test.go).
	plaintext bool
	// dynamicRecords keeps Go's dynamic TLS record sizing (tests only:
	// the tear experiment).
	dynamicRecords bool
	// now is the clock; tests may replace it.
	now func() time.Time
	// negotiated, when set, is called once the stream is negotiated, before
	// the session reads or writes anything else (tests count round trips).
	negotiated func()
	// pause, when set, is called at the named points where a race once
	// was, so that tests can widen the window ("resent": the resend after
	// <resumed/> was written; "reading": the read loop has started).
	pause func(point string)
}

func (c *Config) withDefaults() (Config, jid.JID, error) {
	cfg := *c
	j, err := jid.Parse(cfg.JID)
	if err != nil {
		return cfg, j, fmt.Errorf("%w: invalid JID %q: %v", ErrConfig, cfg.JID, err)
	}
	if j.Localpart() == "" {
		return cfg, j, fmt.Errorf("%w: JID %q has no user part", ErrConfig, cfg.JID)
	}
	if cfg.Addr == "" {
		cfg.srvDomain = j.Domainpart()
		cfg.Addr = net.JoinHostPort(j.Domainpart(), DefaultPort)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.TLS == nil {
		cfg.TLS = &tls.Config{ServerName: j.Domainpart(), MinVersion: tls.VersionTLS12, ClientSessionCache: defaultTLSSessions}
	} else if cfg.TLS.ServerName == "" {
		cfg.TLS = cfg.TLS.Clone()
		cfg.TLS.ServerName = j.Domainpart()
	}
	if cfg.Dial == nil {
		cfg.Dial = cfg.Dialer().DialContext
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(Event) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = DefaultLoginTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.MaxSendBytes == 0 {
		cfg.MaxSendBytes = DefaultMaxSendBytes
	}
	if cfg.MaxStanzaBytes <= 0 {
		cfg.MaxStanzaBytes = DefaultMaxStanzaBytes
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return cfg, j, nil
}

func (c *Config) pauseAt(point string) {
	if c.pause != nil {
		c.pause(point)
	}
}

// TLSConfig returns a TLS configuration for serverName that trusts the system
// roots, or only the PEM certificates in caFile when it is not empty. An empty
// serverName is filled in by Connect with the JID's domain. With
// insecureSkipVerify, certificates are not checked at all: only for test
// servers, and only when asked for explicitly. It has a ClientSessionCache
// of its own: connections that share the configuration resume each other's
// TLS sessions (reconnects cost less CPU on both sides).
func TLSConfig(serverName, caFile string, insecureSkipVerify bool) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         serverName,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: insecureSkipVerify, //nolint:gosec // explicit opt-in, documented
		ClientSessionCache: newTLSSessionCache(),
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("session: reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("session: CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// errNoPassword is returned by Connect without a password.
var errNoPassword = fmt.Errorf("%w: no password", ErrConfig)

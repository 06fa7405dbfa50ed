package ejabberd_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/ejabberd"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
)

// server is what both harnesses offer.
type server interface {
	integration.Endpoint
	CertPool() *x509.CertPool
	Hibernation() time.Duration
	Register(ctx context.Context, user, password string) error
	Restart(ctx context.Context, sig os.Signal) error
}

var (
	_ server = (*ejabberd.Server)(nil)
	_ server = (*prosody.Server)(nil)
)

// raw is a hand-driven XMPP client connection: everything the server sends
// is kept in a transcript.
type raw struct {
	t    *testing.T
	name string
	conn net.Conn
	mu   sync.Mutex
	buf  []byte
	mark int
	wake chan struct{}
	done chan struct{}
	id   string // resumption id
	jid  string
	// features are the stream features after authentication.
	features string
}

func rawAuth(t *testing.T, s server, user, password string) *raw {
	t.Helper()
	tc, err := integration.Authenticate(s, user, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := send(tc, ejabberd.StreamHeader(s.Domain())); err != nil {
		t.Fatal(err)
	}
	features, err := ejabberd.ReadUntil(tc, "</stream:features>")
	if err != nil {
		t.Fatal(err)
	}
	tc.SetDeadline(time.Time{})
	r := &raw{t: t, name: user, conn: tc, features: string(features), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go r.read()
	t.Cleanup(func() { r.conn.Close() })
	return r
}

func (r *raw) read() {
	defer close(r.done)
	chunk := make([]byte, 4096)
	for {
		n, err := r.conn.Read(chunk)
		r.mu.Lock()
		r.buf = append(r.buf, chunk[:n]...)
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (r *raw) send(x string) {
	r.t.Helper()
	if err := send(r.conn, x); err != nil {
		r.t.Fatalf("%s: send: %v", r.name, err)
	}
}

// since returns what arrived since the last call.
func (r *raw) since() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := string(r.buf[r.mark:])
	r.mark = len(r.buf)
	return s
}

// peek returns what arrived since the last since, without moving the mark.
func (r *raw) peek() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.buf[r.mark:])
}

// await waits until re matches what arrived since the last since and
// returns that text (and moves the mark), or fails.
func (r *raw) await(re string, timeout time.Duration) string {
	r.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(timeout)
	for {
		if rx.MatchString(r.peek()) {
			return r.since()
		}
		select {
		case <-r.wake:
		case <-r.done:
			if rx.MatchString(r.peek()) {
				return r.since()
			}
			r.t.Fatalf("%s: connection ended waiting for %s; got %q", r.name, re, r.peek())
		case <-deadline:
			r.t.Fatalf("%s: no %s within %v; got %q", r.name, re, timeout, r.peek())
		}
	}
}

var (
	idRE  = regexp.MustCompile(`<enabled[^>]* id='([^']+)'`)
	jidRE = regexp.MustCompile(`<jid>([^<]+)</jid>`)
)

// bindEnable binds and enables stream management with resumption (attrs
// are added to <enable/>); it returns <enabled/>.
func (r *raw) bindEnable(attrs string) string {
	r.t.Helper()
	r.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	m := jidRE.FindStringSubmatch(r.await(`</iq>`, 5*time.Second))
	if m == nil {
		r.t.Fatal("no jid")
	}
	r.jid = m[1]
	r.send("<enable xmlns='urn:xmpp:sm:3' resume='true'" + attrs + "/>")
	enabled := r.await(`<enabled[^>]*>`, 5*time.Second)
	if m := idRE.FindStringSubmatch(enabled); m != nil {
		r.id = m[1]
	}
	return enabled
}

// online binds, enables stream management, sends the initial presence and
// waits until the server has handled it. It returns what arrived meanwhile.
func (r *raw) online() string {
	r.t.Helper()
	r.bindEnable("")
	r.send("<presence/><r xmlns='urn:xmpp:sm:3'/>")
	return r.await(`<a [^>]*h='1'`, 5*time.Second)
}

// awaitMore is await, unless text already matches re.
func (r *raw) awaitMore(text, re string, timeout time.Duration) string {
	r.t.Helper()
	if regexp.MustCompile(re).MatchString(text) {
		return text
	}
	return text + r.await(re, timeout)
}

// resume asks, on a new connection, to resume the stream of r (claiming h
// handled stanzas) and returns the connection and the answer.
func (r *raw) resume(s server, h int) (*raw, string) {
	r.t.Helper()
	n := rawAuth(r.t, s, r.name, "pw")
	n.send(fmt.Sprintf("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>", r.id, h))
	answer := n.await(`<resumed[^>]*>|<failed[^>]*/>|<failed.*</failed>`, 5*time.Second)
	n.id, n.jid = r.id, r.jid
	return n, answer
}

// rst tears r's connection down with a TCP reset.
func (r *raw) rst() {
	r.conn.(*tls.Conn).NetConn().(*net.TCPConn).SetLinger(0)
	r.conn.Close()
}

// ended waits for the server to close r's connection and returns what came
// last.
func (r *raw) ended(timeout time.Duration) string {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.t.Fatalf("%s: the connection is still open", r.name)
	}
	return r.since()
}

func msg(to, body string) string {
	return fmt.Sprintf("<message type='chat' to='%s' id='%s'><body>%s</body></message>", to, strings.ReplaceAll(body, " ", "-"), body)
}

// element returns the first <message> carrying id in text ("" if none).
func element(text, id string) string {
	m := regexp.MustCompile(`<message[^>]*id='` + regexp.QuoteMeta(id) + `'.*?</message>`).FindString(text)
	return m
}

// TestDifferencesFromProsody checks, on the wire, the differences between
// ejabberd and Prosody that the package doc lists, on the four servers
// side by side (23.01 and 24.12, 0.12.3 and 13.0.1 behave alike here).
func TestDifferencesFromProsody(t *testing.T) {
	type expect struct {
		honoursClientMax  bool   // <enable max='1'/> gives <enabled max='1'/>
		heldPresenceText  string // the <delay/> text on a presence held by CSI
		conflictOnResume  bool   // the replaced connection gets a conflict stream error
		expiredText       string // <failed/>'s <text/> after the resumption time
		expiryDelays      int    // <delay/> elements on a message resent after expiry
		shutdownError     bool   // SIGTERM sends <system-shutdown/>
		failedHAfterStart bool   // <failed h/> after a SIGTERM restart
	}
	const hibernation = 2 * time.Second
	ejabberdWant := expect{honoursClientMax: true, heldPresenceText: "Client Inactive", conflictOnResume: true,
		expiredText: "Previous session timed out", expiryDelays: 1, shutdownError: true}
	prosodyWant := expect{expiryDelays: 2, failedHAfterStart: true}
	servers := map[string]struct {
		start func(t *testing.T) server
		want  expect
	}{
		"ejabberd-23.01": {
			start: func(t *testing.T) server {
				return integration.StartEjabberd(t, ejabberd.Options{Hibernation: hibernation})
			},
			want: ejabberdWant,
		},
		"ejabberd-24.12": {
			start: func(t *testing.T) server {
				return integration.StartEjabberd(t, ejabberd.Options{Hibernation: hibernation, Version: ejabberd.Version2412})
			},
			want: ejabberdWant,
		},
		"prosody-0.12": {
			start: func(t *testing.T) server {
				return integration.StartProsody(t, prosody.Options{Hibernation: hibernation})
			},
			want: prosodyWant,
		},
		"prosody-13": {
			start: func(t *testing.T) server {
				return integration.StartProsody(t, prosody.Options{Hibernation: hibernation, Version: prosody.Version13})
			},
			want: prosodyWant,
		},
	}
	// The integration suites rely on integration.Caps for these
	// differences: the harnesses must say what is observed here.
	for _, h := range integration.AllHarnesses() {
		tc, ok := servers[h.Name]
		if !ok {
			t.Errorf("no expectations for the %s harness", h.Name)
			continue
		}
		if (h.Caps.ShutdownError == "system-shutdown") != tc.want.shutdownError || h.Caps.FailedHAfterSIGTERM != tc.want.failedHAfterStart {
			t.Errorf("%s: Caps %+v disagree with the observed shutdownError %v, failedHAfterStart %v",
				h.Name, h.Caps, tc.want.shutdownError, tc.want.failedHAfterStart)
		}
	}
	for name, tc := range servers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			if p, ok := s.(*prosody.Server); ok && p.External() {
				t.Skip("needs a local Prosody")
			}
			want := tc.want
			ctx := t.Context()
			for _, u := range []string{"alice", "bob"} {
				if err := s.Register(ctx, u, "pw"); err != nil {
					t.Fatal(err)
				}
			}
			bob := rawAuth(t, s, "bob", "pw")
			bob.online()

			// <enabled/>: id, resume and max, never location.
			alice := rawAuth(t, s, "alice", "pw")
			if !strings.Contains(alice.features, "urn:xmpp:sm:3") || !strings.Contains(alice.features, "urn:xmpp:csi:0") {
				t.Errorf("features: %s", alice.features)
			}
			enabled := alice.bindEnable(" max='1'")
			max := "max='2'"
			if want.honoursClientMax {
				max = "max='1'"
			}
			if alice.id == "" || !strings.Contains(enabled, "resume='true'") || !strings.Contains(enabled, max) || strings.Contains(enabled, "location") {
				t.Errorf("<enable max='1'/> gave %s, want id, resume and %s, no location", enabled, max)
			}
			alice.send("<presence/>")
			time.Sleep(200 * time.Millisecond)
			alice.since()

			// CSI: a presence is held while inactive, and flushed by a message.
			alice.send("<inactive xmlns='urn:xmpp:csi:0'/>")
			time.Sleep(100 * time.Millisecond)
			bob.send("<presence to='" + alice.jid + "'><status>held</status></presence>")
			time.Sleep(400 * time.Millisecond)
			if got := alice.peek(); strings.Contains(got, "held") {
				t.Errorf("presence delivered to an inactive client: %s", got)
			}
			bob.send(msg("alice@"+s.Domain(), "flush"))
			got := alice.await(`>flush<`, 2*time.Second)
			if !strings.Contains(got, "held") || !strings.Contains(got, want.heldPresenceText) {
				t.Errorf("held presence, flushed: %s; want a delay saying %q", got, want.heldPresenceText)
			}

			// Resumption while the old connection is still open (a black
			// hole): resumed; unacknowledged stanzas resent with a delay;
			// CSI back to active.
			a2, answer := alice.resume(s, 0)
			if !strings.Contains(answer, "<resumed") {
				t.Fatalf("resume: %s", answer)
			}
			old := alice.ended(5 * time.Second)
			if strings.Contains(old, "<conflict") != want.conflictOnResume {
				t.Errorf("the replaced connection got %q; conflict stream error expected: %v", old, want.conflictOnResume)
			}
			resent := a2.awaitMore(answer, `>flush<`, 2*time.Second)
			if m := element(resent, "flush"); !strings.Contains(m, "urn:xmpp:delay") {
				t.Errorf("message resent after resumption without delay: %s", m)
			}
			bob.send("<presence to='" + alice.jid + "'><status>not held</status></presence>")
			a2.await(`not held`, 2*time.Second) // inactive was not restored

			// The resumption time passes: <failed h/>; the unacknowledged
			// messages come back from offline storage after the next
			// presence.
			a2.rst()
			bob.send(msg("alice@"+s.Domain(), "while away"))
			time.Sleep(hibernation + 1500*time.Millisecond)
			a3, answer := a2.resume(s, 0)
			if !regexp.MustCompile(`<failed[^>]* h='\d+'`).MatchString(answer) || !strings.Contains(answer, "item-not-found") ||
				!strings.Contains(answer, want.expiredText) {
				t.Errorf("resume after expiry: %s; want <failed h/> item-not-found %q", answer, want.expiredText)
			}
			got = a3.awaitMore(a3.online(), `>while away<`, 5*time.Second)
			if m := element(got, "while-away"); strings.Count(m, "urn:xmpp:delay") != want.expiryDelays {
				t.Errorf("message resent after expiry: %s; want %d delay elements", m, want.expiryDelays)
			}

			// A clean close ends the stream for good: <failed/> without h.
			a3.send("</stream:stream>")
			a3.ended(5 * time.Second)
			_, answer = a3.resume(s, 0)
			if !strings.Contains(answer, "<failed") || strings.Contains(answer, " h=") {
				t.Errorf("resume after </stream:stream>: %s; want <failed/> without h", answer)
			}

			// A restart by SIGTERM.
			a5 := rawAuth(t, s, "alice", "pw")
			a5.online()
			if err := s.Restart(ctx, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			last := a5.ended(15 * time.Second)
			switch shutdown := strings.Contains(last, "system-shutdown"); {
			case want.shutdownError && !shutdown && strings.TrimSpace(last) == "":
				// The shutdown outran the connection's process, which
				// then closed without a word: ejabberd 23.01 does so in
				// about one restart in eight (integration.Caps.
				// ShutdownError; session's TestIntegrationServerRestart
				// allows it alike). Anything else but the stream error
				// is wrong.
				t.Logf("at SIGTERM the server closed the connection without system-shutdown")
			case shutdown != want.shutdownError:
				t.Errorf("at SIGTERM the client got %q; system-shutdown expected: %v", last, want.shutdownError)
			}
			_, answer = a5.resume(s, 1)
			if !strings.Contains(answer, "<failed") || strings.Contains(answer, " h=") != want.failedHAfterStart {
				t.Errorf("resume after a SIGTERM restart: %s; h expected: %v", answer, want.failedHAfterStart)
			}
		})
	}
}

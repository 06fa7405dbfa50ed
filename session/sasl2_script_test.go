package session_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1" //nolint:gosec // SCRAM-SHA-1, as servers offer it
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"hash"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// s2server is a scripted SASL2 server (XEP-0388 with Bind2, FAST and inline
// resumption) behind direct TLS on a net.Pipe. It checks what the client
// proves (SCRAM proof, channel binding, FAST HMAC) like a real server, and
// can lie in the ways the client must catch: a wrong XEP-0474 hash, a wrong
// SCRAM server signature, a wrong FAST proof. Its state (tokens, resumable
// streams) outlives a connection, as a real server's does.
type s2server struct {
	t        *testing.T
	cert     tls.Certificate
	pool     *x509.CertPool
	password string

	mechs   []string // SASL2 mechanisms offered
	cbs     []string // channel-binding types offered
	fast    []string // FAST mechanisms offered; nil: no FAST
	classic bool     // offer classic SASL (PLAIN) beside SASL2
	tls12   bool     // TLS 1.2 only: no tls-exporter
	noAck   bool     // leave <r/> unanswered

	// Lies.
	wrongSSDP, noSSDP bool
	badSignature      bool
	badFASTProof      bool
	noChallenge       bool // claim success at once, without SCRAM's challenge
	hTooHigh          bool // <resumed h/> acknowledges more than was sent

	mu      sync.Mutex
	tokens  map[string]bool   // tokens it accepts
	issued  []string          // tokens issued, in order
	streams map[string]uint32 // resumable stream id → h (stanzas received)
	auths   []elem            // <authenticate/> elements received
	stanzas []elem            // stanzas received after the login
	n       int
	done    sync.WaitGroup
}

func newS2Server(t *testing.T) *s2server {
	cert, pool := certs(t)
	srv := &s2server{
		t: t, cert: cert, pool: pool, password: "secret-password",
		mechs:   []string{"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"},
		cbs:     []string{"tls-exporter", "tls-server-end-point"},
		fast:    []string{"HT-SHA-256-NONE", "HT-SHA-256-EXPR"},
		tokens:  map[string]bool{},
		streams: map[string]uint32{},
	}
	t.Cleanup(srv.done.Wait)
	return srv
}

// config is a client configuration for srv; rt, when set, receives each
// connection's round trips up to the end of negotiation, TCP included.
func (srv *s2server) config(rt *int) session.Config {
	pool := srv.pool
	var last *turnCounter
	cfg := session.Config{
		JID:          "alice@example.org",
		Password:     srv.password,
		Addr:         "example.org:5223",
		DirectTLS:    true,
		TLS:          &tls.Config{ServerName: "example.org", RootCAs: pool, MinVersion: tls.VersionTLS12},
		NoPresence:   true,
		NoArchive:    true,
		LoginTimeout: 10 * time.Second,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, s := net.Pipe()
			srv.done.Add(1)
			go func() {
				defer srv.done.Done()
				defer s.Close()
				srv.serve(s)
			}()
			last = &turnCounter{Conn: c}
			return last, nil
		},
	}
	if rt != nil {
		session.OnNegotiated(&cfg, func() { *rt = 1 + last.count() })
	}
	return cfg
}

// login connects to srv with a new State and returns the configuration and
// the State with the session, for a test that logs in again with both.
func (srv *s2server) login(t *testing.T) (session.Config, *session.State, *session.Session) {
	t.Helper()
	cfg := srv.config(nil)
	st := &session.State{}
	return cfg, st, mustConnect(t, cfg, st)
}

// change changes srv's script (what it offers, answers or lies about)
// under its lock, between logins.
func (srv *s2server) change(f func(*s2server)) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	f(srv)
}

// detach detaches s, its stream left resumable, or fails the test.
func detach(t *testing.T, s *session.Session) {
	t.Helper()
	if err := s.Detach(); err != nil {
		t.Fatal(err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func (srv *s2server) serve(raw net.Conn) {
	tc := &tls.Config{Certificates: []tls.Certificate{srv.cert}, NextProtos: []string{"xmpp-client"}}
	if srv.tls12 {
		tc.MaxVersion = tls.VersionTLS12
	}
	c := tls.Server(raw, tc)
	if c.Handshake() != nil {
		return
	}
	f := &fake{t: srv.t, conn: c, d: xml.NewDecoder(c)}
	if _, err := f.readStart(); err != nil {
		return
	}
	feats := `<authentication xmlns='urn:xmpp:sasl:2'>`
	for _, m := range srv.mechs {
		feats += `<mechanism>` + m + `</mechanism>`
	}
	feats += `<inline><sm xmlns='urn:xmpp:sm:3'/>`
	if srv.fast != nil {
		feats += `<fast xmlns='urn:xmpp:fast:0'>`
		for _, m := range srv.fast {
			feats += `<mechanism>` + m + `</mechanism>`
		}
		feats += `</fast>`
	}
	feats += `<bind xmlns='urn:xmpp:bind:0'><inline><feature var='urn:xmpp:sm:3'/><feature var='urn:xmpp:csi:0'/></inline></bind></inline></authentication>`
	if len(srv.cbs) > 0 {
		feats += `<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>`
		for _, cb := range srv.cbs {
			feats += `<channel-binding type='` + cb + `'/>`
		}
		feats += `</sasl-channel-binding>`
	}
	if srv.classic {
		feats += `<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>`
	}
	f.send(fmt.Sprintf(streamHeader, "s2") + `<stream:features>` + feats + `</stream:features>`)
	auth, err := f.readElem()
	if err != nil {
		return
	}
	srv.mu.Lock()
	srv.auths = append(srv.auths, auth)
	srv.mu.Unlock()
	if auth.XMLName.Local != "authenticate" {
		srv.t.Errorf("s2server: got %s, want <authenticate/>", auth)
		return
	}
	ir, _ := auth.child("initial-response")
	first, err := base64.StdEncoding.DecodeString(ir.Text)
	if err != nil {
		srv.t.Errorf("s2server: initial response not base64")
		return
	}
	cs := c.ConnectionState()
	exporter, _ := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	mech := auth.attr("mechanism")
	var additional []byte
	failure := func(cond string) {
		f.send(`<failure xmlns='urn:xmpp:sasl:2'><` + cond + ` xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><text>no</text></failure>`)
	}
	var fastLogin bool
	switch {
	case strings.HasPrefix(mech, "HT-SHA-256-"):
		fastLogin = true
		user, mac, ok := strings.Cut(string(first), "\x00")
		var cb []byte
		if mech == "HT-SHA-256-EXPR" {
			cb = exporter
		}
		srv.mu.Lock()
		var token string
		for tk := range srv.tokens {
			if hmac.Equal([]byte(mac), htMAC(tk, "Initiator", cb)) {
				token = tk
			}
		}
		srv.mu.Unlock()
		if !ok || user != "alice" || token == "" {
			failure("not-authorized")
			return
		}
		additional = htMAC(token, "Responder", cb)
		if srv.badFASTProof {
			additional[0] ^= 1
		}
	case strings.HasPrefix(mech, "SCRAM-") && srv.noChallenge:
		additional = []byte("v=" + b64(make([]byte, 32)))
	case strings.HasPrefix(mech, "SCRAM-"):
		var ok bool
		additional, ok = srv.scram(f, mech, string(first), exporter)
		if !ok {
			return
		}
	default:
		srv.t.Errorf("s2server: unexpected mechanism %q", mech)
		return
	}

	// Authenticated. Resume, or bind a new session.
	success := `<success xmlns='urn:xmpp:sasl:2'><additional-data>` + b64(additional) + `</additional-data>`
	if rt, ok := auth.child("request-token"); ok || fastLogin {
		srv.mu.Lock()
		srv.n++
		tk := fmt.Sprintf("TOKEN-%d-secret", srv.n)
		srv.tokens[tk] = true
		srv.issued = append(srv.issued, tk)
		srv.mu.Unlock()
		_ = rt
		success += `<token xmlns='urn:xmpp:fast:0' token='` + tk + `' expiry='` + time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339) + `'/>`
	}
	var resumedID string
	var h uint32
	if res, ok := auth.child("resume"); ok {
		srv.mu.Lock()
		hh, known := srv.streams[res.attr("previd")]
		srv.mu.Unlock()
		if known {
			resumedID, h = res.attr("previd"), hh
			if srv.hTooHigh {
				h += 5
			}
			success += fmt.Sprintf(`<resumed xmlns='urn:xmpp:sm:3' h='%d' previd='%s'/>`, h, resumedID)
		} else {
			// As Prosody writes it: the condition wrapped in <error/>.
			success += `<failed xmlns='urn:xmpp:sm:3'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></failed>`
		}
	}
	id := resumedID
	if resumedID == "" {
		bind, ok := auth.child("bind")
		if !ok {
			srv.t.Errorf("s2server: no Bind2 request in %s", auth)
			return
		}
		srv.mu.Lock()
		srv.n++
		id = fmt.Sprintf("SM%d-secret", srv.n)
		srv.streams[id] = 0
		srv.mu.Unlock()
		success += `<authorization-identifier>alice@example.org/xmppbg-` + id[:3] + `</authorization-identifier><bound xmlns='urn:xmpp:bind:0'>`
		if _, ok := bind.child("enable"); ok {
			success += `<enabled xmlns='urn:xmpp:sm:3' id='` + id + `' resume='1' max='600'/>`
		}
		success += `</bound>`
	} else {
		success += `<authorization-identifier>alice@example.org/xmppbg-` + id[:3] + `</authorization-identifier>`
	}
	success += `</success>`
	// Prosody sends features after an inline resumption: the client
	// must ignore them.
	f.send(success + `<stream:features><csi xmlns='urn:xmpp:csi:0'/></stream:features>`)

	for {
		e, err := f.readElem()
		if err != nil {
			return
		}
		srv.mu.Lock()
		switch e.XMLName.Local {
		case "r":
			if !srv.noAck {
				f.send(fmt.Sprintf(`<a xmlns='urn:xmpp:sm:3' h='%d'/>`, srv.streams[id]))
			}
		case "a":
		default:
			srv.streams[id]++
			srv.stanzas = append(srv.stanzas, e)
		}
		srv.mu.Unlock()
	}
}

func htMAC(token, role string, cb []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(role))
	m.Write(cb)
	return m.Sum(nil)
}

// scram runs the server side of SCRAM after the client-first message and
// returns the server-final message for the additional-data.
func (srv *s2server) scram(f *fake, mech, clientFirst string, exporter []byte) ([]byte, bool) {
	var hf func() hash.Hash = sha1.New
	if strings.HasPrefix(mech, "SCRAM-SHA-256") {
		hf = sha256.New
	}
	parts := strings.SplitN(clientFirst, ",", 3)
	if len(parts) != 3 {
		srv.t.Errorf("s2server: bad client-first %q", clientFirst)
		return nil, false
	}
	gs2 := parts[0] + "," + parts[1] + ","
	plus := strings.HasSuffix(mech, "-PLUS")
	if plus && !slices.Contains(srv.cbs, "tls-exporter") {
		// As a real server answers a channel binding it does not offer.
		f.send(`<failure xmlns='urn:xmpp:sasl:2'><malformed-request xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><text>unsupported channel binding</text></failure>`)
		return nil, false
	}
	if plus != (parts[0] == "p=tls-exporter") {
		srv.t.Errorf("s2server: %s with GS2 header %q", mech, gs2)
		return nil, false
	}
	bare := parts[2]
	var cnonce string
	for _, kv := range strings.Split(bare, ",") {
		if v, ok := strings.CutPrefix(kv, "r="); ok {
			cnonce = v
		}
	}
	salt := []byte("salt-of-alice")
	serverFirst := "r=" + cnonce + "SERVERNONCE,s=" + b64(salt) + ",i=4096"
	if !srv.noSSDP {
		in := strings.Join(slices.Sorted(slices.Values(srv.mechs)), "\x1e")
		if len(srv.cbs) > 0 {
			in += "\x1f" + strings.Join(slices.Sorted(slices.Values(srv.cbs)), "\x1e")
		}
		if srv.wrongSSDP {
			// What a server sees when the stronger mechanisms were
			// stripped from what the client saw: the lists differ.
			in += "\x1eSCRAM-SHA-512"
		}
		h := hf()
		h.Write([]byte(in))
		serverFirst += ",h=" + b64(h.Sum(nil))
	}
	f.send(`<challenge xmlns='urn:xmpp:sasl:2'>` + b64([]byte(serverFirst)) + `</challenge>`)
	resp, err := f.readElem()
	if err != nil {
		return nil, false
	}
	final, err := base64.StdEncoding.DecodeString(resp.Text)
	if resp.XMLName.Local == "error" {
		return nil, false // the client gave up
	}
	if resp.XMLName.Local != "response" || err != nil {
		srv.t.Errorf("s2server: got %s, want <response/>", resp)
		return nil, false
	}
	withoutProof, proof64, ok := strings.Cut(string(final), ",p=")
	cbWant := []byte(gs2)
	if plus {
		cbWant = append(cbWant, exporter...)
	}
	if !ok || !strings.HasPrefix(withoutProof, "c="+b64(cbWant)+",") {
		f.send(`<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></failure>`)
		srv.t.Errorf("s2server: channel binding does not match in %q", withoutProof)
		return nil, false
	}
	authMsg := bare + "," + serverFirst + "," + withoutProof
	salted, _ := pbkdf2.Key(hf, srv.password, salt, 4096, hf().Size())
	mac := func(key []byte, s string) []byte { m := hmac.New(hf, key); m.Write([]byte(s)); return m.Sum(nil) }
	clientKey := mac(salted, "Client Key")
	h := hf()
	h.Write(clientKey)
	stored := h.Sum(nil)
	sig := mac(stored, authMsg)
	proof, _ := base64.StdEncoding.DecodeString(proof64)
	if len(proof) != len(sig) {
		f.send(`<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></failure>`)
		return nil, false
	}
	for i := range proof {
		proof[i] ^= sig[i]
	}
	h = hf()
	h.Write(proof)
	if !hmac.Equal(h.Sum(nil), stored) {
		f.send(`<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><text>wrong password</text></failure>`)
		return nil, false
	}
	serverSig := mac(mac(salted, "Server Key"), authMsg)
	if srv.badSignature {
		serverSig[0] ^= 1
	}
	return []byte("v=" + b64(serverSig)), true
}

func (srv *s2server) lastAuth() elem {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.auths[len(srv.auths)-1]
}

func (srv *s2server) forget(what string) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	switch what {
	case "tokens":
		srv.tokens = map[string]bool{}
	case "streams":
		srv.streams = map[string]uint32{}
	}
}

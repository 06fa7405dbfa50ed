package session_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/session"
)

// The STARTTLS downgrade: a server (or anyone on the path) that offers
// STARTTLS without <required/> and then answers <failure/>, shows a
// certificate the client does not trust, or offers no STARTTLS at all must
// get nothing after the stream header: no SASL, no presence, no message. And
// a server that ends negotiation before authentication or binding must not
// get a "ready" session.

// tlsServer is a hostile scripted server over net.Pipe. It records every
// byte the client sends, in plaintext and (after TLS) decrypted, so tests can
// check what leaked.
type tlsServer struct {
	conn net.Conn

	mu    sync.Mutex
	plain bytes.Buffer // bytes read before TLS
	inTLS bytes.Buffer // bytes read inside TLS
	done  chan struct{}
}

type recorder struct {
	r   io.Reader
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (r recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.mu.Lock()
	r.buf.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (s *tlsServer) transcript() (plain, inTLS string) {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plain.String(), s.inTLS.String()
}

// certs returns a TLS certificate for example.org and a pool that trusts it.
func certs(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, err := prosody.WriteCert(dir, "example.org", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Clean(certFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return cert, pool
}

// startTLSScript scripts the server after the client's first stream header.
// It gets a decoder over the recorded plaintext, and returns when the client
// is expected to have given up; the server then drains the connection.
type startTLSScript func(s *tlsServer, d *xml.Decoder, w io.Writer) io.Reader

func hostileConnect(t *testing.T, script startTLSScript, trust *x509.CertPool) (*tlsServer, error) {
	t.Helper()
	srv := &tlsServer{done: make(chan struct{})}
	cfg := session.Config{
		JID:          "alice@example.org",
		Password:     "secret-password",
		Addr:         "example.org:5222",
		TLS:          &tls.Config{ServerName: "example.org", RootCAs: trust, MinVersion: tls.VersionTLS12},
		LoginTimeout: 10 * time.Second,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, s := net.Pipe()
			srv.conn = s
			go func() {
				defer close(srv.done)
				defer s.Close()
				r := recorder{r: s, mu: &srv.mu, buf: &srv.plain}
				d := xml.NewDecoder(r)
				if _, err := readStartElem(d); err != nil {
					return
				}
				rest := script(srv, d, s)
				if rest == nil {
					rest = r
				}
				// Whatever else the client sends is recorded; the client
				// closing the connection ends it.
				_, _ = io.Copy(io.Discard, rest)
			}()
			return c, nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, cfg, nil)
	if err == nil {
		s.Abort()
		t.Fatalf("Connect succeeded against a hostile server")
	}
	return srv, err
}

func readStartElem(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			return s, nil
		}
	}
}

func writeHeader(w io.Writer, id, features string) {
	fmt.Fprintf(w, streamHeader+"<stream:features>%s</stream:features>", id, features)
}

const (
	optionalStartTLS = `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`
	plainMechanisms  = `<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>`
)

// leaked fails the test when the client sent anything past negotiation.
func leaked(t *testing.T, where, got string) {
	t.Helper()
	for _, bad := range []string{"<auth", "<presence", "<message", "<iq", "<enable", "secret-password"} {
		if strings.Contains(got, bad) {
			t.Errorf("the client sent %q %s:\n%s", bad, where, got)
		}
	}
}

func TestStartTLSFailureIsNotADowngrade(t *testing.T) {
	srv, err := hostileConnect(t, func(s *tlsServer, d *xml.Decoder, w io.Writer) io.Reader {
		writeHeader(w, "s1", optionalStartTLS+plainMechanisms)
		if start, err := readStartElem(d); err != nil || start.Name.Local != "starttls" {
			return nil
		}
		_ = d.Skip()
		// Refuse, then carry on as if the client might log in in the
		// clear.
		fmt.Fprint(w, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		writeHeader(w, "s2", plainMechanisms)
		return nil
	}, nil)
	var te *session.TLSError
	if !errors.As(err, &te) || !strings.Contains(te.Reason, "refused STARTTLS") {
		t.Fatalf("Connect = %v (%T), want a TLSError saying the server refused STARTTLS", err, err)
	}
	plain, _ := srv.transcript()
	leaked(t, "in plaintext after <failure/>", plain)
}

func TestStartTLSUntrustedCertificateIsNotADowngrade(t *testing.T) {
	cert, _ := certs(t)
	srv, err := hostileConnect(t, func(s *tlsServer, d *xml.Decoder, w io.Writer) io.Reader {
		writeHeader(w, "s1", optionalStartTLS+plainMechanisms)
		if start, err := readStartElem(d); err != nil || start.Name.Local != "starttls" {
			return nil
		}
		_ = d.Skip()
		fmt.Fprint(w, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		tc := tls.Server(s.conn, &tls.Config{Certificates: []tls.Certificate{cert}})
		if tc.Handshake() != nil {
			// The client rejected the certificate; whatever it sends
			// now is plaintext on the raw connection.
			return recorder{r: s.conn, mu: &s.mu, buf: &s.plain}
		}
		return recorder{r: tc, mu: &s.mu, buf: &s.inTLS}
	}, x509.NewCertPool()) // trusts nothing
	var ce *session.CertificateError
	if !errors.As(err, &ce) {
		t.Fatalf("Connect = %v (%T), want a CertificateError", err, err)
	}
	plain, inTLS := srv.transcript()
	leaked(t, "in plaintext", plain)
	leaked(t, "over TLS to an untrusted server", inTLS)
}

func TestNoStartTLSOfferedFailsAtOnce(t *testing.T) {
	start := time.Now()
	srv, err := hostileConnect(t, func(s *tlsServer, d *xml.Decoder, w io.Writer) io.Reader {
		writeHeader(w, "s1", plainMechanisms)
		return nil
	}, nil)
	var te *session.TLSError
	if !errors.As(err, &te) || !strings.Contains(te.Reason, "does not offer STARTTLS") {
		t.Fatalf("Connect = %v (%T), want a TLSError saying STARTTLS is not offered", err, err)
	}
	// At once: not after the login timeout (10 s here).
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Connect took %v to see that STARTTLS is not offered", d)
	}
	plain, _ := srv.transcript()
	leaked(t, "in plaintext", plain)
	if strings.Contains(plain, "<starttls") {
		t.Errorf("the client asked for STARTTLS the server does not offer:\n%s", plain)
	}
}

// tlsUp answers <starttls/> with a certificate the client trusts and returns
// a decoder over the decrypted, recorded stream, after the client's new
// stream header.
func tlsUp(s *tlsServer, d *xml.Decoder, w io.Writer, cert tls.Certificate) (*xml.Decoder, *tls.Conn, recorder, bool) {
	writeHeader(w, "s1", `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>`)
	if start, err := readStartElem(d); err != nil || start.Name.Local != "starttls" {
		return nil, nil, recorder{}, false
	}
	_ = d.Skip()
	fmt.Fprint(w, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	tc := tls.Server(s.conn, &tls.Config{Certificates: []tls.Certificate{cert}})
	if tc.Handshake() != nil {
		return nil, nil, recorder{}, false
	}
	r := recorder{r: tc, mu: &s.mu, buf: &s.inTLS}
	td := xml.NewDecoder(r)
	if _, err := readStartElem(td); err != nil {
		return nil, nil, recorder{}, false
	}
	return td, tc, r, true
}

func TestReadyWithoutAuthenticationIsRefused(t *testing.T) {
	cert, pool := certs(t)
	srv, err := hostileConnect(t, func(s *tlsServer, d *xml.Decoder, w io.Writer) io.Reader {
		_, tc, r, ok := tlsUp(s, d, w, cert)
		if !ok {
			return nil
		}
		// An empty feature list: mellium takes the stream as ready.
		writeHeader(tc, "s2", "")
		return r
	}, pool)
	if !errors.Is(err, session.ErrLoginIncomplete) || !strings.Contains(err.Error(), "before authentication") {
		t.Fatalf("Connect = %v, want ErrLoginIncomplete before authentication", err)
	}
	_, inTLS := srv.transcript()
	leaked(t, "on a stream that was never authenticated", inTLS)
}

func TestReadyWithoutBindIsRefused(t *testing.T) {
	cert, pool := certs(t)
	srv, err := hostileConnect(t, func(s *tlsServer, d *xml.Decoder, w io.Writer) io.Reader {
		td, tc, r, ok := tlsUp(s, d, w, cert)
		if !ok {
			return nil
		}
		writeHeader(tc, "s2", plainMechanisms)
		if _, err := readStartElem(td); err != nil { // <auth>
			return nil
		}
		_ = td.Skip()
		fmt.Fprint(tc, `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
		if _, err := readStartElem(td); err != nil { // the new stream
			return nil
		}
		writeHeader(tc, "s3", "") // no bind offered
		// From here on nothing may come: record it apart from the SASL
		// exchange.
		s.mu.Lock()
		s.inTLS.Reset()
		s.mu.Unlock()
		return r
	}, pool)
	if !errors.Is(err, session.ErrLoginIncomplete) || !strings.Contains(err.Error(), "bound") {
		t.Fatalf("Connect = %v, want ErrLoginIncomplete before binding", err)
	}
	_, inTLS := srv.transcript()
	for _, bad := range []string{"<presence", "<message", "<enable"} {
		if strings.Contains(inTLS, bad) {
			t.Errorf("the client sent %q on an unbound stream:\n%s", bad, inTLS)
		}
	}
}

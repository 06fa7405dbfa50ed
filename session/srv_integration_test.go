package session_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/session"
)

// dnsServer is a DNS server on loopback that answers from its zone: SRV
// records by name, and 127.0.0.1 for the names in hosts.
type dnsServer struct {
	mu      sync.Mutex
	srv     map[string][]dns.SRV // "_xmpp-client._tcp.localhost." → records
	hosts   map[string]bool      // "tls.srv.test." → 127.0.0.1
	queries []string             // "SRV _xmpp-client._tcp.localhost."
}

// startDNS starts a DNS server for the test and returns a resolver that
// asks it and nothing else.
func startDNS(t *testing.T, d *dnsServer) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(d.serve)}
	go func() { _ = s.ActivateAndServe() }()
	t.Cleanup(func() { _ = s.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr)
	}}
}

func (d *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		d.queries = append(d.queries, dns.TypeToString[q.Qtype]+" "+name)
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Rrtype: q.Qtype, Ttl: 1}
		switch {
		case q.Qtype == dns.TypeSRV && d.srv[name] != nil:
			for _, r := range d.srv[name] {
				r.Hdr = hdr
				m.Answer = append(m.Answer, &r)
			}
		case q.Qtype == dns.TypeA && d.hosts[name]:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
		case d.hosts[name]:
			// The name exists, without records of that type.
		default:
			m.Rcode = dns.RcodeNameError
		}
	}
	_ = w.WriteMsg(m)
}

// setSRV replaces the SRV records of the zone.
func (d *dnsServer) setSRV(srv map[string][]dns.SRV) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.srv = srv
}

func (d *dnsServer) asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.queries)
}

// hostPort splits a harness address.
func hostPort(t *testing.T, addr string) uint16 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(n)
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := hostPort(t, l.Addr().String())
	l.Close()
	return port
}

// TestIntegrationSRV logs in without an address: the server is found
// through the SRV records a DNS server on loopback gives for the account's
// domain, tried in order (a dead target first), with direct TLS or
// STARTTLS as the record says, and the certificate checked against the
// domain, not the SRV target (which the certificate does not name).
func TestIntegrationSRV(t *testing.T) {
	integration.Each(t, integration.Options{DirectTLSPort: true}, func(t *testing.T, srv integration.Server) {
		if srv.DirectTLSAddr() == "" {
			t.Fatal("the server has no direct TLS port")
		}
		domain := srv.Domain() + "."
		tlsName, startName, deadName := "tls.srv.test.", "starttls.srv.test.", "dead.srv.test."
		hosts := map[string]bool{tlsName: true, startName: true, deadName: true}
		for _, tc := range []struct {
			name     string
			srv      map[string][]dns.SRV
			want     string // the address used
			tried    []string
			noServer bool
		}{
			{
				name: "direct TLS after a dead target",
				srv: map[string][]dns.SRV{
					"_xmpps-client._tcp." + domain: {
						{Target: tlsName, Port: hostPort(t, srv.DirectTLSAddr()), Priority: 10, Weight: 1},
						{Target: deadName, Port: closedPort(t), Priority: 0},
					},
					"_xmpp-client._tcp." + domain: {{Target: startName, Port: hostPort(t, srv.Addr()), Priority: 20}},
				},
				want: "tls.srv.test:" + strconv.Itoa(int(hostPort(t, srv.DirectTLSAddr()))),
			},
			{
				name: "STARTTLS before direct TLS",
				srv: map[string][]dns.SRV{
					"_xmpps-client._tcp." + domain: {{Target: tlsName, Port: hostPort(t, srv.DirectTLSAddr()), Priority: 10}},
					"_xmpp-client._tcp." + domain:  {{Target: startName, Port: hostPort(t, srv.Addr()), Priority: 5}},
				},
				want: "starttls.srv.test:" + strconv.Itoa(int(hostPort(t, srv.Addr()))),
			},
			{
				name:     "no service",
				srv:      map[string][]dns.SRV{"_xmpp-client._tcp." + domain: {{Target: "."}}},
				noServer: true,
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d := &dnsServer{srv: tc.srv, hosts: hosts}
				r := startDNS(t, d)
				var mu sync.Mutex
				var dialed []string
				cfg := clientConfig(t, srv, "alice", nil)
				cfg.Addr, cfg.Resolver, cfg.NoPresence = "", r, true
				cfg.LoginTimeout = 20 * time.Second
				cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
					mu.Lock()
					dialed = append(dialed, addr)
					mu.Unlock()
					dl := net.Dialer{Resolver: r}
					return dl.DialContext(ctx, network, addr)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				s, err := session.Connect(ctx, cfg, nil)
				if tc.noServer {
					if !errors.Is(err, session.ErrNoService) {
						t.Fatalf("Connect: %v, want ErrNoService", err)
					}
					if len(dialed) != 0 {
						t.Errorf("dialed %q although the domain offers no service", dialed)
					}
					return
				}
				if err != nil {
					t.Fatalf("Connect: %v (DNS queries %q, dialed %q)", err, d.asked(), dialed)
				}
				defer s.Abort()
				if got := s.Login().Addr; got != tc.want {
					t.Errorf("logged in at %s, want %s (dialed %q)", got, tc.want, dialed)
				}
				if dialed[len(dialed)-1] != tc.want {
					t.Errorf("dialed %q, want %s last", dialed, tc.want)
				}
				if strings.HasPrefix(tc.name, "direct TLS after") && (len(dialed) != 2 || !strings.HasPrefix(dialed[0], "dead.srv.test:")) {
					t.Errorf("dialed %q: want the dead target (priority 0) first", dialed)
				}
				q := d.asked()
				for _, want := range []string{"SRV _xmpps-client._tcp." + domain, "SRV _xmpp-client._tcp." + domain} {
					if !slices.Contains(q, want) {
						t.Errorf("no query %q among %q", want, q)
					}
				}
			})
		}
	})
}

// TestIntegrationSRVDirectTLSFallback: with direct TLS asked for and no
// address, on a domain without SRV records, the client tries the domain on
// 5223 with direct TLS, then on 5222 with STARTTLS; it used to try direct
// TLS on 5222, a STARTTLS port, and failed with a TLS error. The test cannot
// bind the well-known ports: its dialer maps them to the server's ports
// (or to a closed one), and a DNS server on loopback answers that the
// domain has no SRV record.
func TestIntegrationSRVDirectTLSFallback(t *testing.T) {
	integration.Each(t, integration.Options{DirectTLSPort: true}, func(t *testing.T, srv integration.Server) {
		if srv.DirectTLSAddr() == "" {
			t.Fatal("the server has no direct TLS port")
		}
		domain := srv.Domain()
		closed := "127.0.0.1:" + strconv.Itoa(int(closedPort(t)))
		for _, tc := range []struct {
			name      string
			ports     map[string]string // port dialed → real address
			want      string            // the address logged in at; "" for an error
			directTLS bool
			dialed    []string
		}{
			{
				name:      "direct TLS on 5223",
				ports:     map[string]string{"5223": srv.DirectTLSAddr(), "5222": srv.Addr()},
				want:      domain + ":5223",
				directTLS: true,
				dialed:    []string{domain + ":5223"},
			},
			{
				name:   "5223 closed: STARTTLS on 5222",
				ports:  map[string]string{"5223": closed, "5222": srv.Addr()},
				want:   domain + ":5222",
				dialed: []string{domain + ":5223", domain + ":5222"},
			},
			{
				// Something that does not speak direct TLS answers on
				// 5223 (here the server's STARTTLS port): the handshake
				// fails, and STARTTLS on 5222 follows.
				name:   "5223 not direct TLS: STARTTLS on 5222",
				ports:  map[string]string{"5223": srv.Addr(), "5222": srv.Addr()},
				want:   domain + ":5222",
				dialed: []string{domain + ":5223", domain + ":5222"},
			},
			{
				name:   "both closed: an error naming both",
				ports:  map[string]string{"5223": closed, "5222": closed},
				dialed: []string{domain + ":5223", domain + ":5222"},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d := &dnsServer{hosts: map[string]bool{}}
				r := startDNS(t, d)
				var mu sync.Mutex
				var dialed []string
				cfg := clientConfig(t, srv, "alice", nil)
				cfg.Addr, cfg.Resolver, cfg.DirectTLS, cfg.NoPresence = "", r, true, true
				cfg.LoginTimeout = 20 * time.Second
				cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
					mu.Lock()
					dialed = append(dialed, addr)
					mu.Unlock()
					host, port, err := net.SplitHostPort(addr)
					if err != nil || host != domain || tc.ports[port] == "" {
						return nil, fmt.Errorf("unexpected dial %s", addr)
					}
					var dl net.Dialer
					c, err := dl.DialContext(ctx, network, tc.ports[port])
					if err != nil {
						// As the dialer would name the address.
						return nil, fmt.Errorf("dial %s: %w", addr, err)
					}
					return c, nil
				}
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				s, err := session.Connect(ctx, cfg, nil)
				mu.Lock()
				defer mu.Unlock()
				if !slices.Equal(dialed, tc.dialed) {
					t.Errorf("dialed %q, want %q", dialed, tc.dialed)
				}
				if tc.want == "" {
					if err == nil {
						s.Abort()
						t.Fatal("Connect succeeded with nothing to connect to")
					}
					var ce *session.ConnError
					msg := err.Error()
					if !errors.As(err, &ce) || !strings.Contains(msg, domain+":5223") || !strings.Contains(msg, domain+":5222") ||
						strings.Contains(strings.ToLower(msg), "tls") {
						t.Errorf("Connect: %v; want a connection error naming both addresses, and no TLS error", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Connect: %v (DNS queries %q)", err, d.asked())
				}
				defer s.Abort()
				if got := s.Login().Addr; got != tc.want {
					t.Errorf("logged in at %s, want %s", got, tc.want)
				}
				if st := s.State(); st.Server != tc.want || st.ServerDirectTLS != tc.directTLS {
					t.Errorf("State.Server %q direct TLS %v, want %q %v", st.Server, st.ServerDirectTLS, tc.want, tc.directTLS)
				}
			})
		}
	})
}

// TestIntegrationSRVResumeSameServer: a resumption goes to the server the
// stream is on, not wherever the SRV order points this time. The domain has
// two targets of equal priority (both lead to the one real server, under
// two names, so the address logged in at tells which was taken): the first
// session can only take a; then b's weight makes it first in nearly every
// ordering (65535 in 65536). The resumption must still go to a, without
// asking DNS. Then b is made first by priority: a fresh login goes there,
// and a last server where the login fails is given up for the SRV order.
func TestIntegrationSRVResumeSameServer(t *testing.T) {
	integration.Each(t, integration.Options{DirectTLSPort: true}, func(t *testing.T, srv integration.Server) {
		domain := srv.Domain() + "."
		port := hostPort(t, srv.Addr())
		aName, bName := "a.srv.test.", "b.srv.test."
		a := "a.srv.test:" + strconv.Itoa(int(port))
		b := "b.srv.test:" + strconv.Itoa(int(port))
		service := "_xmpp-client._tcp." + domain
		d := &dnsServer{
			srv:   map[string][]dns.SRV{service: {{Target: aName, Port: port, Priority: 0, Weight: 1}}},
			hosts: map[string]bool{aName: true, bName: true},
		}
		r := startDNS(t, d)
		cfg := clientConfig(t, srv, "alice", nil)
		cfg.Addr, cfg.Resolver, cfg.NoPresence = "", r, true
		cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dl := net.Dialer{Resolver: r}
			return dl.DialContext(ctx, network, addr)
		}
		srvQueries := func() int {
			n := 0
			for _, q := range d.asked() {
				if strings.HasPrefix(q, "SRV ") {
					n++
				}
			}
			return n
		}

		s := mustConnect(t, cfg, nil)
		if got := s.Login().Addr; got != a {
			t.Fatalf("first login at %s, want %s", got, a)
		}
		if err := s.Detach(); err != nil {
			t.Fatal(err)
		}
		st := s.State()
		if st.Server != a || !st.Resumable(time.Now()) {
			t.Fatalf("after the first session: Server %q, resumable %v", st.Server, st.Resumable(time.Now()))
		}

		d.setSRV(map[string][]dns.SRV{service: {
			{Target: aName, Port: port, Priority: 0, Weight: 0},
			{Target: bName, Port: port, Priority: 0, Weight: 65535},
		}})
		before := srvQueries()
		s2 := mustConnect(t, cfg, st)
		if !s2.Login().Resumed || s2.Login().Addr != a {
			t.Errorf("second login at %s, resumed %v; want a resumption at %s", s2.Login().Addr, s2.Login().Resumed, a)
		}
		if n := srvQueries() - before; n != 0 {
			t.Errorf("%d SRV queries before the resumption; the last server needs none", n)
		}
		if err := s2.Close(t.Context()); err != nil {
			t.Fatal(err)
		}

		// Nothing to resume (and no FAST token, which would go to a
		// too): the SRV order decides; b first by priority now, so that
		// this control does not depend on the random draw.
		d.setSRV(map[string][]dns.SRV{service: {
			{Target: aName, Port: port, Priority: 1},
			{Target: bName, Port: port, Priority: 0},
		}})
		st3 := s2.State()
		st3.FAST = nil
		s3 := mustConnect(t, cfg, st3)
		if s3.Login().Resumed || s3.Login().Addr != b {
			t.Errorf("fresh login at %s, resumed %v; want %s, the SRV order's first", s3.Login().Addr, s3.Login().Resumed, b)
		}
		if got := s3.State().Server; got != b {
			t.Errorf("State.Server %q after a fresh login at %s", got, b)
		}

		// A last server that answers but where the login fails (here a
		// direct TLS port, remembered as STARTTLS) is given up: the SRV
		// order leads to b, where the stream is resumed.
		if err := s3.Detach(); err != nil {
			t.Fatal(err)
		}
		st4 := s3.State()
		stale := "a.srv.test:" + strconv.Itoa(int(hostPort(t, srv.DirectTLSAddr())))
		st4.Server, st4.ServerDirectTLS = stale, false
		cfg.LoginTimeout = 10 * time.Second
		s4 := mustConnect(t, cfg, st4)
		if !s4.Login().Resumed || s4.Login().Addr != b {
			t.Errorf("after a failed login at %s: logged in at %s, resumed %v; want a resumption at %s", stale, s4.Login().Addr, s4.Login().Resumed, b)
		}
		if got := s4.State().Server; got != b {
			t.Errorf("State.Server %q, want %s", got, b)
		}
	})
}

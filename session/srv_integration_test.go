package session_test

import (
	"context"
	"errors"
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

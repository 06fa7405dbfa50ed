package session

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeResolver answers SRV lookups from a table: service → records or error.
type fakeResolver struct {
	recs map[string][]*net.SRV
	errs map[string]error
}

func (f fakeResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if proto != "tcp" || name != "example.org" {
		return "", nil, errors.New("unexpected lookup " + service + " " + proto + " " + name)
	}
	if err := f.errs[service]; err != nil {
		return "", f.recs[service], err
	}
	if f.recs[service] == nil {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return "_" + service + "._tcp." + name + ".", f.recs[service], nil
}

func srv(target string, port, prio, weight uint16) *net.SRV {
	return &net.SRV{Target: target, Port: port, Priority: prio, Weight: weight}
}

func addrs(eps []endpoint) []string {
	var out []string
	for _, ep := range eps {
		s := ep.addr
		if ep.directTLS {
			s += " tls"
		}
		out = append(out, s)
	}
	return out
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	fallback := endpoint{addr: "example.org:5222"}
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name       string
		r          fakeResolver
		directOnly bool
		want       []string
		err        error
	}{
		{name: "no records: the domain", r: fakeResolver{}, want: []string{"example.org:5222"}},
		{name: "lookup failure: the domain",
			r:    fakeResolver{errs: map[string]error{"xmpp-client": &net.DNSError{Err: "server misbehaving", IsTemporary: true}}},
			want: []string{"example.org:5222"}},
		{name: "by priority, both services merged",
			r: fakeResolver{recs: map[string][]*net.SRV{
				"xmpps-client": {srv("tls.example.org.", 5223, 5, 0)},
				"xmpp-client":  {srv("b.example.org.", 5222, 10, 0), srv("a.example.org.", 5222, 0, 0)},
			}},
			want: []string{"a.example.org:5222", "tls.example.org:5223 tls", "b.example.org:5222"}},
		{name: "direct TLS only",
			r: fakeResolver{recs: map[string][]*net.SRV{
				"xmpps-client": {srv("tls.example.org.", 443, 5, 0)},
				"xmpp-client":  {srv("a.example.org.", 5222, 0, 0)},
			}},
			directOnly: true,
			want:       []string{"tls.example.org:443 tls"}},
		{name: "valid records with an error for others",
			r: fakeResolver{
				recs: map[string][]*net.SRV{"xmpp-client": {srv("a.example.org.", 5222, 0, 0)}},
				errs: map[string]error{"xmpp-client": errors.New("cannot unmarshal DNS message")}},
			want: []string{"a.example.org:5222"}},
		{name: "dot: no service",
			r:   fakeResolver{recs: map[string][]*net.SRV{"xmpp-client": {srv(".", 0, 0, 0)}}},
			err: ErrNoService},
		{name: "dot for direct TLS only: STARTTLS still",
			r: fakeResolver{recs: map[string][]*net.SRV{
				"xmpps-client": {srv(".", 0, 0, 0)},
				"xmpp-client":  {srv("a.example.org.", 5222, 0, 0)},
			}},
			want: []string{"a.example.org:5222"}},
		{name: "dot for direct TLS, nothing for STARTTLS: the domain",
			r:    fakeResolver{recs: map[string][]*net.SRV{"xmpps-client": {srv(".", 0, 0, 0)}}},
			want: []string{"example.org:5222"}},
		{name: "dot for direct TLS with DirectTLS: no service",
			r:          fakeResolver{recs: map[string][]*net.SRV{"xmpps-client": {srv(".", 0, 0, 0)}}},
			directOnly: true,
			err:        ErrNoService},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps, err := endpoints(t.Context(), tc.r, "example.org", tc.directOnly, fallback, log)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got := addrs(eps); !slices.Equal(got, tc.want) {
				t.Errorf("endpoints = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOrderSRV(t *testing.T) {
	t.Parallel()
	rec := func(name string, prio, weight uint16) srvRecord {
		return srvRecord{SRV: net.SRV{Target: name, Priority: prio, Weight: weight}}
	}
	names := func(recs []srvRecord) string {
		var s []string
		for _, r := range recs {
			s = append(s, r.Target)
		}
		return strings.Join(s, " ")
	}
	in := []srvRecord{rec("c", 20, 0), rec("heavy", 10, 90), rec("zero", 10, 0), rec("light", 10, 10), rec("a", 5, 0)}

	// The number drawn decides within a priority: 0 takes a zero-weight
	// record first; the largest takes the last.
	if got := names(orderSRV(slices.Clone(in), func(int) int { return 0 })); got != "a zero heavy light c" {
		t.Errorf("drawing 0: %s", got)
	}
	if got := names(orderSRV(slices.Clone(in), func(n int) int { return n - 1 })); got != "a light heavy zero c" {
		t.Errorf("drawing the largest: %s", got)
	}

	// With a real random source, heavy comes first about 90% of the time.
	r := rand.New(rand.NewPCG(1, 2))
	heavy := 0
	const runs = 2000
	for range runs {
		out := orderSRV(slices.Clone(in), r.IntN)
		if out[0].Target != "a" || out[4].Target != "c" {
			t.Fatalf("priority order broken: %s", names(out))
		}
		if out[1].Target == "heavy" {
			heavy++
		}
	}
	if heavy < runs*80/100 || heavy > runs*97/100 {
		t.Errorf("heavy first %d times in %d, want about 90%%", heavy, runs)
	}
}

// TestDialDiscovered checks the dial order and the time each address
// gets, with a fake resolver and a dialer that refuses all but one.
func TestDialDiscovered(t *testing.T) {
	t.Parallel()
	r := fakeResolver{recs: map[string][]*net.SRV{
		"xmpps-client": {srv("tls.example.org.", 5223, 0, 0)},
		"xmpp-client":  {srv("a.example.org.", 5222, 1, 0), srv("b.example.org.", 5222, 2, 0)},
	}}
	for _, tc := range []struct {
		name   string
		answer string // the address that connects
		want   []string
		err    bool
	}{
		{name: "the first", answer: "tls.example.org:5223", want: []string{"tls.example.org:5223"}},
		{name: "the last", answer: "b.example.org:5222", want: []string{"tls.example.org:5223", "a.example.org:5222", "b.example.org:5222"}},
		{name: "none", want: []string{"tls.example.org:5223", "a.example.org:5222", "b.example.org:5222"}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{JID: "alice@example.org", Resolver: r, Logger: slog.New(slog.DiscardHandler)}
			cfg, _, err := cfg.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			s := &Session{cfg: cfg, log: cfg.Logger}
			var tried []string
			var shares []time.Duration
			deadline := time.Now().Add(30 * time.Second)
			dial := func(addr string, d time.Time) (net.Conn, error) {
				tried = append(tried, addr)
				shares = append(shares, time.Until(d))
				if addr == tc.answer {
					c, _ := net.Pipe()
					return c, nil
				}
				return nil, errors.New("refused by " + addr)
			}
			conn, ep, err := s.dialDiscovered(t.Context(), dial, deadline)
			if !slices.Equal(tried, tc.want) {
				t.Errorf("tried %q, want %q", tried, tc.want)
			}
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), "refused by a.example.org:5222") || strings.Contains(err.Error(), "\n") {
					t.Errorf("err = %q: want every address's error on one line", err)
				}
				return
			}
			if err != nil || conn == nil || ep.addr != tc.answer || ep.directTLS != strings.HasPrefix(tc.answer, "tls.") {
				t.Fatalf("dialDiscovered = %v, %+v, %v", conn, ep, err)
			}
			conn.Close()
			// The first of three gets a third of the time, the last all
			// that is left.
			if shares[0] > 11*time.Second || shares[0] < 9*time.Second {
				t.Errorf("the first address got %s of 30s", shares[0])
			}
			if n := len(shares); n == 3 && shares[2] < 29*time.Second {
				t.Errorf("the last address got %s", shares[2])
			}
		})
	}

	// An address given: no lookup.
	cfg := Config{JID: "alice@example.org", Addr: "127.0.0.1:1", Resolver: fakeResolver{errs: map[string]error{"xmpp-client": errors.New("looked up")}}}
	cfg, _, _ = cfg.withDefaults()
	s := &Session{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	var tried []string
	_, _, _ = s.dialDiscovered(t.Context(), func(addr string, _ time.Time) (net.Conn, error) {
		tried = append(tried, addr)
		return nil, errors.New("no")
	}, time.Now().Add(time.Second))
	if !slices.Equal(tried, []string{"127.0.0.1:1"}) {
		t.Errorf("with Addr, tried %q", tried)
	}
}

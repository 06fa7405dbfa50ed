package session

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
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
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name       string
		r          fakeResolver
		directPref bool
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
		{name: "direct TLS preferred: its targets first, then STARTTLS",
			r: fakeResolver{recs: map[string][]*net.SRV{
				"xmpps-client": {srv("tls2.example.org.", 443, 9, 0), srv("tls.example.org.", 443, 5, 0)},
				"xmpp-client":  {srv("b.example.org.", 5222, 1, 0), srv("a.example.org.", 5222, 0, 0)},
			}},
			directPref: true,
			want:       []string{"tls.example.org:443 tls", "tls2.example.org:443 tls", "a.example.org:5222", "b.example.org:5222"}},
		{name: "direct TLS preferred, only STARTTLS records: those",
			r:          fakeResolver{recs: map[string][]*net.SRV{"xmpp-client": {srv("a.example.org.", 5222, 0, 0)}}},
			directPref: true,
			want:       []string{"a.example.org:5222"}},
		{name: "direct TLS preferred, no records: the domain on 5223 with direct TLS, then on 5222 with STARTTLS",
			r:          fakeResolver{},
			directPref: true,
			want:       []string{"example.org:5223 tls", "example.org:5222"}},
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
		{name: "dot for direct TLS only, direct TLS preferred: STARTTLS still (XEP-0368 §5)",
			r: fakeResolver{recs: map[string][]*net.SRV{
				"xmpps-client": {srv(".", 0, 0, 0)},
				"xmpp-client":  {srv("a.example.org.", 5222, 0, 0)},
			}},
			directPref: true,
			want:       []string{"a.example.org:5222"}},
		// XEP-0368 §5: after a "." for _xmpps-client the client "MUST
		// NOT perform A/AAAA fallback".
		{name: "dot for direct TLS, nothing for STARTTLS: no service",
			r:   fakeResolver{recs: map[string][]*net.SRV{"xmpps-client": {srv(".", 0, 0, 0)}}},
			err: ErrNoService},
		{name: "dot for direct TLS, direct TLS preferred, nothing for STARTTLS: no service",
			r:          fakeResolver{recs: map[string][]*net.SRV{"xmpps-client": {srv(".", 0, 0, 0)}}},
			directPref: true,
			err:        ErrNoService},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps, err := endpoints(t.Context(), tc.r, "example.org", tc.directPref, log)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got := addrs(eps); !slices.Equal(got, tc.want) {
				t.Errorf("endpoints = %q, want %q", got, tc.want)
			}
			for _, ep := range eps {
				if ep.why == "" {
					t.Errorf("%s: no reason to log", ep.addr)
				}
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

// countingResolver is a fakeResolver that counts its lookups.
type countingResolver struct {
	fakeResolver
	n *atomic.Int32
}

func (c countingResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	c.n.Add(1)
	return c.fakeResolver.LookupSRV(ctx, service, proto, name)
}

// TestDialDiscoveredLastServer: a resumption, or a FAST login, dials the
// server the last session was connected to first, without waiting for DNS;
// two targets of equal priority come in a random order, and the stream to
// resume is on one of them. When it does not answer, the domain is looked up
// again and the others are tried (not it again).
func TestDialDiscoveredLastServer(t *testing.T) {
	t.Parallel()
	r := fakeResolver{recs: map[string][]*net.SRV{
		"xmpp-client": {srv("a.example.org.", 5222, 0, 1), srv("b.example.org.", 5222, 0, 1), srv("c.example.org.", 5222, 1, 0)},
	}}
	now := time.Now()
	fast := &FASTToken{Mechanism: "HT-SHA-256-NONE", Token: "secret", Expiry: now.Add(time.Hour)}
	for _, tc := range []struct {
		name    string
		st      State
		noSASL2 bool
		refuse  string   // an address that refuses
		want    []string // dialed; nil: any order of the SRV targets
		lookups bool
	}{
		{name: "resumable", st: State{ID: "x", Server: "b.example.org:5222"}, want: []string{"b.example.org:5222"}},
		{name: "FAST token", st: State{Server: "b.example.org:5222", FAST: fast}, want: []string{"b.example.org:5222"}},
		{name: "direct TLS remembered", st: State{ID: "x", Server: "b.example.org:5223", ServerDirectTLS: true}, want: []string{"b.example.org:5223"}},
		{name: "unreachable: the others", st: State{ID: "x", Server: "b.example.org:5222"}, refuse: "b.example.org:5222",
			want: []string{"b.example.org:5222", "a.example.org:5222"}, lookups: true},
		{name: "nothing to resume", st: State{Server: "b.example.org:5222"}, lookups: true},
		{name: "FAST without SASL2", st: State{Server: "b.example.org:5222", FAST: fast}, noSASL2: true, lookups: true},
		{name: "expired FAST token", st: State{Server: "b.example.org:5222", FAST: &FASTToken{Token: "x", Expiry: now.Add(-time.Second)}}, lookups: true},
		{name: "expired stream", st: State{ID: "x", Max: time.Minute, Closed: now.Add(-time.Hour), Server: "b.example.org:5222"}, lookups: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			cfg := Config{JID: "alice@example.org", Resolver: countingResolver{r, &n}, Logger: slog.New(slog.DiscardHandler), NoSASL2: tc.noSASL2}
			cfg, _, err := cfg.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			st := tc.st
			s := &Session{cfg: cfg, log: cfg.Logger, st: &st}
			var tried []string
			dial := func(addr string, d time.Time) (net.Conn, error) {
				tried = append(tried, addr)
				if addr == tc.refuse {
					return nil, errors.New("refused by " + addr)
				}
				c, _ := net.Pipe()
				return c, nil
			}
			conn, ep, err := s.dialDiscovered(t.Context(), dial, time.Now().Add(30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
			if tc.want != nil && ep.directTLS != tc.st.ServerDirectTLS {
				t.Errorf("direct TLS %v, want %v as remembered", ep.directTLS, tc.st.ServerDirectTLS)
			}
			if tc.want != nil && !slices.Equal(tried, tc.want) {
				t.Errorf("dialed %q, want %q", tried, tc.want)
			}
			if tc.want == nil && (len(tried) != 1 || tried[0] == "c.example.org:5222") {
				t.Errorf("dialed %q, want a or b (the SRV order)", tried)
			}
			if got := n.Load() > 0; got != tc.lookups {
				t.Errorf("%d SRV lookups, want lookups %v", n.Load(), tc.lookups)
			}
			if s.atLast != (len(tried) == 1 && tc.want != nil) {
				t.Errorf("atLast = %v", s.atLast)
			}
		})
	}

	// Only a server found through DNS is remembered, and only a login at
	// it: never Config.Addr or the resumption location.
	cfg := Config{JID: "alice@example.org", Logger: slog.New(slog.DiscardHandler)}
	cfg, _, _ = cfg.withDefaults()
	s := &Session{cfg: cfg, st: &State{}}
	s.rememberServer(endpoint{addr: "b.example.org:5223", directTLS: true})
	if s.st.Server != "b.example.org:5223" || !s.st.ServerDirectTLS {
		t.Errorf("remembered %q %v", s.st.Server, s.st.ServerDirectTLS)
	}
	s = &Session{cfg: cfg, st: &State{}, atLocation: true}
	s.rememberServer(endpoint{addr: "b.example.org:5223"})
	if s.st.Server != "" {
		t.Errorf("the resumption location was remembered: %q", s.st.Server)
	}
	cfg = Config{JID: "alice@example.org", Addr: "127.0.0.1:5222"}
	cfg, _, _ = cfg.withDefaults()
	s = &Session{cfg: cfg, st: &State{}}
	s.rememberServer(endpoint{addr: "127.0.0.1:5222"})
	if s.st.Server != "" {
		t.Errorf("Config.Addr was remembered: %q", s.st.Server)
	}

	// Nor does an earlier session's server stay remembered once a login
	// went to Config.Addr: the stream to resume (or the FAST token's
	// node) is no longer there, and the next login without Config.Addr
	// would try it first.
	stale := func() *State { return &State{Server: "a.example.org:5223", ServerDirectTLS: true} }
	s = &Session{cfg: cfg, st: stale()}
	s.rememberServer(endpoint{addr: "127.0.0.1:5222"})
	if s.st.Server != "" || s.st.ServerDirectTLS {
		t.Errorf("a login at Config.Addr kept the last server: %q %v", s.st.Server, s.st.ServerDirectTLS)
	}
}

// blockingResolver answers nothing: it returns only when its context ends,
// as a resolver whose server has gone silent.
type blockingResolver struct{ calls *atomic.Int32 }

func (b blockingResolver) LookupSRV(ctx context.Context, _, _, _ string) (string, []*net.SRV, error) {
	b.calls.Add(1)
	<-ctx.Done()
	return "", nil, &net.DNSError{Err: ctx.Err().Error(), IsTimeout: true}
}

// TestSRVLookupBounded: a resolver that never answers holds the login for a
// third of the login timeout, not all of it; then the domain itself is
// dialed (RFC 6120 §3.2.2), with the two thirds left.
func TestSRVLookupBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		direct bool
		want   []string
	}{
		{name: "STARTTLS", want: []string{"example.org:5222"}},
		{name: "direct TLS", direct: true, want: []string{"example.org:5223", "example.org:5222"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				cfg := Config{JID: "alice@example.org", Resolver: blockingResolver{&calls}, DirectTLS: tc.direct, Logger: slog.New(slog.DiscardHandler)}
				cfg, _, err := cfg.withDefaults()
				if err != nil {
					t.Fatal(err)
				}
				s := &Session{cfg: cfg, log: cfg.Logger, st: &State{}}
				start := time.Now()
				deadline := start.Add(30 * time.Second)
				var tried []string
				var at, until []time.Duration
				dial := func(addr string, d time.Time) (net.Conn, error) {
					tried = append(tried, addr)
					at = append(at, time.Since(start))
					until = append(until, d.Sub(start))
					if len(tried) < len(tc.want) {
						return nil, errors.New("refused by " + addr)
					}
					c, _ := net.Pipe()
					return c, nil
				}
				conn, _, err := s.dialDiscovered(t.Context(), dial, deadline)
				if err != nil {
					t.Fatal(err)
				}
				conn.Close()
				if !slices.Equal(tried, tc.want) {
					t.Errorf("dialed %q, want %q", tried, tc.want)
				}
				if calls.Load() != 2 {
					t.Errorf("%d lookups, want 2", calls.Load())
				}
				if at[0] != 10*time.Second {
					t.Errorf("first dial after %s, want 10s (a third of 30s)", at[0])
				}
				if until[len(until)-1] != 30*time.Second {
					t.Errorf("the last dial may take until %s, want the login's deadline (30s)", until[len(until)-1])
				}
			})
		})
	}
}

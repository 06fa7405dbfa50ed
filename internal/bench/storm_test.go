package bench_test

import (
	"context"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/bench"
	"github.com/xmppbg/xmppbg/internal/faultproxy"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/reconnect"
)

// Reconnect storm: n supervised clients lose their connections at the same
// moment (every connection through a proxy reset at once, or the server
// killed and restarted); how many logins the server has in progress at once,
// how long until all are back, and how the backoff's jitter spreads them.

type stormClient struct {
	c  *reconnect.Client
	ev *events
	mu sync.Mutex
	// attempts are the logins that reached the server: from the TCP
	// connection to Connected, or to the failure (Retrying).
	attempts []bench.Interval
	open     time.Time // start of the attempt in progress
}

type stormResult struct {
	name        string
	n           int
	peak        int
	peakAt      time.Duration
	allBack     time.Duration
	back        []time.Duration // per client, from the tear to Connected
	firstDial   []time.Duration // per client, from the tear to its first dial
	attempts    int
	resumed     int
	failedDials int
}

type stormRig struct {
	srv     *prosody.Server
	proxy   *faultproxy.Proxy
	clients []*stormClient
	origin  time.Time
	mu      sync.Mutex
	refused int
}

// startStorm starts n clients with the given backoff, through a proxy when
// viaProxy, and waits until all are online.
func startStorm(tb testing.TB, srv *prosody.Server, names []string, bo reconnect.Backoff, viaProxy bool) *stormRig {
	tb.Helper()
	r := &stormRig{srv: srv}
	addr := srv.Addr()
	if viaProxy {
		p, err := faultproxy.Start(srv.Addr())
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { p.Close() })
		r.proxy, addr = p, p.Addr()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	for i, name := range names {
		sc := &stormClient{ev: &events{}}
		cfg := reconnect.Config{
			Session: sessionConfig(tb, srv, name, addr),
			Backoff: bo,
			Logger:  quiet,
			OnEvent: func(e reconnect.Event) {
				now := time.Now()
				switch e.(type) {
				case reconnect.Connected, reconnect.Retrying:
					sc.mu.Lock()
					if !sc.open.IsZero() {
						sc.attempts = append(sc.attempts, bench.Interval{Start: sc.open.Sub(r.origin), End: now.Sub(r.origin)})
						sc.open = time.Time{}
					}
					sc.mu.Unlock()
				}
				sc.ev.On(e)
			},
		}
		var d net.Dialer
		cfg.Session.Dial = func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, a)
			if err != nil {
				r.mu.Lock()
				r.refused++
				r.mu.Unlock()
				return nil, err
			}
			sc.mu.Lock()
			sc.open = time.Now()
			sc.mu.Unlock()
			return c, nil
		}
		sc.c = reconnect.New(cfg)
		r.clients = append(r.clients, sc)
		wg.Go(func() { sc.c.Run(ctx) })
		if i%8 == 7 {
			time.Sleep(20 * time.Millisecond) // a gentle ramp up
		}
	}
	for _, sc := range r.clients {
		if _, _, ok := sc.ev.First(time.Time{}, 2*time.Minute, isOnline); !ok {
			tb.Fatal("a client never came online")
		}
	}
	return r
}

// tear breaks every connection at once, by reset or by killing the server,
// and measures the way back.
func (r *stormRig) tear(tb testing.TB, name string, kill bool) stormResult {
	tb.Helper()
	time.Sleep(500 * time.Millisecond) // quiet before the storm
	for _, sc := range r.clients {
		sc.mu.Lock()
		sc.attempts = nil
		sc.mu.Unlock()
	}
	r.mu.Lock()
	r.refused = 0
	r.mu.Unlock()
	r.origin = time.Now()
	if kill {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.srv.Restart(ctx, syscall.SIGKILL); err != nil {
			tb.Fatal(err)
		}
	} else if err := r.proxy.ResetPeer(); err != nil {
		tb.Fatal(err)
	}
	res := stormResult{name: name, n: len(r.clients)}
	for _, sc := range r.clients {
		at, ev, ok := sc.ev.First(r.origin, 2*time.Minute, isConnected)
		if !ok {
			tb.Fatalf("a client was not back within 2 minutes")
		}
		if ev.(reconnect.Connected).Login.Resumed {
			res.resumed++
		}
		d := at.Sub(r.origin)
		res.back = append(res.back, d)
		res.allBack = max(res.allBack, d)
	}
	var iv []bench.Interval
	for _, sc := range r.clients {
		sc.mu.Lock()
		iv = append(iv, sc.attempts...)
		if len(sc.attempts) > 0 {
			res.firstDial = append(res.firstDial, sc.attempts[0].Start)
		}
		sc.mu.Unlock()
	}
	res.attempts = len(iv)
	res.peak, res.peakAt = bench.PeakOverlap(iv)
	r.mu.Lock()
	res.failedDials = r.refused
	r.mu.Unlock()
	return res
}

// BenchmarkStorm: one op is one storm of 200 clients.
//
//	go test -run '^$' -bench Storm -benchtime 3x ./internal/bench
func BenchmarkStorm(b *testing.B) {
	n := envInt("XMPPBG_BENCH_STORM", 200)
	names := users("s", n)
	srv := startServer(b, prosody.Options{}, names...)
	r := startStorm(b, srv, names, reconnect.Backoff{}, true)
	b.ResetTimer()
	for range b.N {
		res := r.tear(b, "rst", false)
		b.ReportMetric(float64(res.peak), "peak-logins")
		b.ReportMetric(float64(res.allBack)/1e6, "all-back-ms")
	}
	b.ReportMetric(0, "ns/op")
}

func reportStorm(t *testing.T) {
	n := envInt("XMPPBG_BENCH_STORM", 200)
	names, names2 := users("s", n), users("t", n)
	srv := startServer(t, prosody.Options{}, append(names, names2...)...)
	var results []stormResult
	// The default schedule: full jitter, the first delay drawn in
	// [MinDelay, Initial] = [100 ms, 1 s].
	r := startStorm(t, srv, names, reconnect.Backoff{}, true)
	results = append(results, r.tear(t, "reset by the network (proxy RST), default backoff (full jitter)", false))
	// The server killed and restarted: nothing to resume.
	results = append(results, r.tear(t, "Prosody SIGKILLed and restarted, default backoff (full jitter)", true))
	// For comparison, no jitter: MinDelay = Initial makes every first delay
	// exactly 1 s.
	r2 := startStorm(t, srv, names2, reconnect.Backoff{Initial: time.Second, MinDelay: time.Second}, true)
	results = append(results, r2.tear(t, "reset by the network (proxy RST), no jitter (MinDelay = Initial = 1 s), for comparison", false))

	reportf("### Reconnect storm: %d clients torn at once\n\n", n)
	reportf("Load %s at the end. A login attempt counts from its TCP connection to the client's Connected (or Retrying) event; the peak is the most attempts in progress at one instant.\n\n", loadAvg())
	reportf("| storm | peak simultaneous logins | at | all back after | median back | attempts | refused dials | resumed |\n|---|---|---|---|---|---|---|---|\n")
	for _, res := range results {
		s := bench.Summarize(res.back)
		reportf("| %s | %d | %s ms | %s ms | %s ms | %d | %d | %d/%d |\n", res.name, res.peak, bench.Ms(res.peakAt),
			bench.Ms(res.allBack), bench.Ms(s.Median), res.attempts, res.failedDials, res.resumed, res.n)
	}
	reportf("\n")
	for _, res := range results {
		reportf("Back online (Connected), %s; 100 ms buckets from the tear:\n\n```\n%s```\n\n", res.name, bench.Histogram(res.back, 100*time.Millisecond, 50))
		reportf("First login attempt (TCP connection made), %s:\n\n```\n%s```\n\n", res.name, bench.Histogram(res.firstDial, 100*time.Millisecond, 50))
	}
}

package bench_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/bench"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/suspend"
)

// Detection: an app suspended with its connection held (PolicyHold), the
// socket torn (rst, reclaim) or black-holed meanwhile; from App.Resume to the
// client's Dead event, and on to online again.

type detection struct {
	fault    suspend.Fault
	probe    time.Duration
	dead     []time.Duration
	online   []time.Duration
	byProbe  int
	resumed  int
	failures int
}

// measureDetection runs reps suspensions for each fault with one client whose
// probe timeout is probe.
func measureDetection(tb testing.TB, srv *prosody.Server, probe time.Duration, faults []suspend.Fault, reps func(suspend.Fault) int) []*detection {
	tb.Helper()
	ev := &events{}
	var app *suspend.App
	cfg := reconnect.Config{
		Session:      sessionConfig(tb, srv, "det", srv.Addr()),
		ProbeTimeout: probe,
		IdleProbe:    -1, // only the probe on resume
		Backoff:      reconnect.Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
		OnEvent:      ev.On,
		Logger:       quiet,
	}
	var d net.Dialer
	cfg.Session.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return app.Dial(d.DialContext)(ctx, network, addr)
	}
	c := reconnect.New(cfg)
	app = suspend.New(c, suspend.Options{Policy: suspend.PolicyHold})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, _, ok := ev.First(time.Time{}, 10*time.Second, isOnline); !ok {
		tb.Fatal("never online")
	}
	var out []*detection
	for _, f := range faults {
		r := &detection{fault: f, probe: probe}
		out = append(out, r)
		for range reps(f) {
			if c.Status() != reconnect.Online {
				if _, _, ok := ev.First(time.Now().Add(-time.Hour), 10*time.Second, isOnline); !ok || c.Status() != reconnect.Online {
					tb.Fatalf("not online before a cycle: %v", c.Status())
				}
			}
			if err := app.Suspend(); err != nil {
				tb.Fatal(err)
			}
			if err := app.Inject(f); err != nil {
				tb.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // the fault reaches the server
			t0 := time.Now()
			ev.Trim(t0)
			if err := app.Resume(); err != nil {
				tb.Fatal(err)
			}
			tDead, dead, ok := ev.First(t0, probe+10*time.Second, isDead)
			if !ok {
				r.failures++
				tb.Errorf("%v, probe %v: no Dead event", f, probe)
				continue
			}
			r.dead = append(r.dead, tDead.Sub(t0))
			if dead.(reconnect.Dead).ByProbe {
				r.byProbe++
			}
			tOn, _, ok := ev.First(t0, 20*time.Second, isOnline)
			if !ok {
				r.failures++
				tb.Errorf("%v, probe %v: not online again", f, probe)
				continue
			}
			r.online = append(r.online, tOn.Sub(t0))
			if _, conn, ok := ev.First(t0, 0, isConnected); ok && conn.(reconnect.Connected).Login.Resumed {
				r.resumed++
			}
		}
	}
	return out
}

var allFaults = []suspend.Fault{suspend.FaultRST, suspend.FaultReclaim, suspend.FaultBlackhole}

// BenchmarkDetection: one op is one suspension, fault, resume and repair.
//
//	go test -run '^$' -bench Detection -benchtime 20x ./internal/bench
func BenchmarkDetection(b *testing.B) {
	srv := startServer(b, prosody.Options{}, "det")
	for _, probe := range []time.Duration{time.Second, 3 * time.Second, 5 * time.Second} {
		for _, f := range allFaults {
			b.Run(fmt.Sprintf("%v/probe%v", f, probe), func(b *testing.B) {
				r := measureDetection(b, srv, probe, []suspend.Fault{f}, func(suspend.Fault) int { return b.N })[0]
				ds, os := bench.Summarize(r.dead), bench.Summarize(r.online)
				b.ReportMetric(float64(ds.Median)/1e6, "dead-ms/median")
				b.ReportMetric(float64(ds.P99)/1e6, "dead-ms/p99")
				b.ReportMetric(float64(os.Median)/1e6, "online-ms/median")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

func reportDetection(t *testing.T) {
	srv := startServer(t, prosody.Options{}, "det")
	n := envInt("XMPPBG_BENCH_DETECT_REPS", 30)
	nbh := envInt("XMPPBG_BENCH_DETECT_BLACKHOLE_REPS", 10)
	reps := func(f suspend.Fault) int {
		if f == suspend.FaultBlackhole {
			return nbh
		}
		return n
	}
	reportf("### Detection: from App.Resume to Dead\n\n")
	reportf("PolicyHold; the fault is injected while suspended; %d cycles per row for rst and reclaim, %d for blackhole; load %s at start.\n\n", n, nbh, loadAvg())
	reportf("| fault | probe timeout | dead median | dead p99 | dead max | found by probe | target | met | online again median | resumed |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, probe := range []time.Duration{time.Second, 3 * time.Second, 5 * time.Second} {
		for _, r := range measureDetection(t, srv, probe, allFaults, reps) {
			ds, os := bench.Summarize(r.dead), bench.Summarize(r.online)
			target := 50 * time.Millisecond
			if r.fault == suspend.FaultBlackhole {
				target = probe + probe/10
			}
			met := "yes"
			if ds.Max > target || r.failures > 0 {
				met = "no"
				if ds.Median <= target && r.failures == 0 {
					met = "median yes, max no"
				}
			}
			reportf("| %v | %v | %s ms | %s ms | %s ms | %d/%d | ≤ %v | %s | %s ms | %d/%d |\n", r.fault, probe,
				bench.Ms(ds.Median), bench.Ms(ds.P99), bench.Ms(ds.Max), r.byProbe, len(r.dead), target, met,
				bench.Ms(os.Median), r.resumed, len(r.online))
		}
	}
	reportf("\n")
}

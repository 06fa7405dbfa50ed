package bench_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
)

// Memory: resident memory and goroutines per idle online session, with a
// thousand sessions in this process, as bare sessions (session.Session) and
// as supervised clients (reconnect.Client, which adds its run loop, event
// dispatcher and timers).

type memSample struct {
	rss, heap, stack int64
	goroutines       int
	prosodyRSS       int64
}

func sampleMem(srv *prosody.Server) memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{
		rss:        procStatus(0, "VmRSS"),
		heap:       int64(ms.HeapInuse),
		stack:      int64(ms.StackInuse),
		goroutines: runtime.NumGoroutine(),
		prosodyRSS: procStatus(srv.PID(), "VmRSS"),
	}
}

type memResult struct {
	kind          string
	n             int
	before, after memSample
	connect       time.Duration
}

// parallel runs f(i) for i in [0, n) on k goroutines.
func parallel(n, k int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range k {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func measureSessions(tb testing.TB, srv *prosody.Server, names []string) memResult {
	tb.Helper()
	r := memResult{kind: "session.Session", n: len(names), before: sampleMem(srv)}
	sessions := make([]*session.Session, len(names))
	t0 := time.Now()
	parallel(len(names), 8, func(i int) {
		s, err := session.Connect(context.Background(), sessionConfig(tb, srv, names[i], srv.Addr()), nil)
		if err != nil {
			tb.Errorf("%s: %v", names[i], err)
			return
		}
		sessions[i] = s
	})
	r.connect = time.Since(t0)
	time.Sleep(2 * time.Second) // let presence, <r/> and <a/> settle
	r.after = sampleMem(srv)
	heapProfile(tb)
	runtime.KeepAlive(sessions)
	parallel(len(sessions), 32, func(i int) {
		if s := sessions[i]; s != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			s.Close(ctx)
			cancel()
		}
	})
	return r
}

func measureClients(tb testing.TB, srv *prosody.Server, names []string) memResult {
	tb.Helper()
	r := memResult{kind: "reconnect.Client", n: len(names), before: sampleMem(srv)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	online := make(chan struct{}, len(names))
	t0 := time.Now()
	clients := make([]*reconnect.Client, len(names))
	for i, name := range names {
		var once sync.Once
		c := reconnect.New(reconnect.Config{
			Session: sessionConfig(tb, srv, name, srv.Addr()),
			Logger:  quiet,
			OnEvent: func(e reconnect.Event) {
				if isOnline(e) {
					once.Do(func() { online <- struct{}{} })
				}
			},
		})
		clients[i] = c
		wg.Go(func() { c.Run(ctx) })
		if i%8 == 7 {
			time.Sleep(20 * time.Millisecond) // a gentle ramp, not a storm
		}
	}
	deadline := time.After(2 * time.Minute)
	for range names {
		select {
		case <-online:
		case <-deadline:
			tb.Fatal("clients did not all come online")
		}
	}
	r.connect = time.Since(t0)
	time.Sleep(2 * time.Second)
	r.after = sampleMem(srv)
	runtime.KeepAlive(clients)
	cancel()
	wg.Wait()
	return r
}

// BenchmarkMemory: one op is one idle online session (or client) more.
//
//	go test -run '^$' -bench Memory -benchtime 1000x ./internal/bench
func BenchmarkMemory(b *testing.B) {
	for _, kind := range []string{"session", "client"} {
		b.Run(kind, func(b *testing.B) {
			srv := startServer(b, prosody.Options{}, users("m", b.N)...)
			names := users("m", b.N)
			var r memResult
			if kind == "session" {
				r = measureSessions(b, srv, names)
			} else {
				r = measureClients(b, srv, names)
			}
			n := float64(r.n)
			b.ReportMetric(float64(r.after.rss-r.before.rss)/n, "rss-B/session")
			b.ReportMetric(float64(r.after.heap+r.after.stack-r.before.heap-r.before.stack)/n, "heap+stack-B/session")
			b.ReportMetric(float64(r.after.goroutines-r.before.goroutines)/n, "goroutines/session")
			b.ReportMetric(float64(r.after.prosodyRSS-r.before.prosodyRSS)/n, "prosody-B/session")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func reportMemory(t *testing.T) {
	n := envInt("XMPPBG_BENCH_SESSIONS", 1000)
	names := users("m", n)
	t0 := time.Now()
	srv := startServer(t, prosody.Options{}, names...)
	reg := time.Since(t0)
	rs := []memResult{measureSessions(t, srv, names)}
	time.Sleep(time.Second)
	rs = append(rs, measureClients(t, srv, names))
	reportf("### Memory per idle online session\n\n")
	reportf("%d accounts registered with RegisterMany (server start included: %v); %d sessions in this process, connected 8 at a time; measured after runtime.GC and debug.FreeOSMemory, 2 s after the last login; load %s.\n\n", n, reg.Round(time.Millisecond), n, loadAvg())
	reportf("| kind | RSS per session | Go heap+stacks per session | goroutines per session | Prosody RSS per session | connect all |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		f := float64(r.n)
		reportf("| %s | %s | %s | %.2f | %s | %v |\n", r.kind,
			kib(float64(r.after.rss-r.before.rss)/f), kib(float64(r.after.heap+r.after.stack-r.before.heap-r.before.stack)/f),
			float64(r.after.goroutines-r.before.goroutines)/f, kib(float64(r.after.prosodyRSS-r.before.prosodyRSS)/f), r.connect.Round(time.Millisecond))
	}
	reportf("\nAbsolute: ")
	for _, r := range rs {
		reportf("%s: RSS %s → %s, goroutines %d → %d, Prosody RSS %s → %s. ", r.kind, mib(r.before.rss), mib(r.after.rss),
			r.before.goroutines, r.after.goroutines, mib(r.before.prosodyRSS), mib(r.after.prosodyRSS))
	}
	reportf("\n\n")
}

// heapProfile writes the live heap to the file XMPPBG_BENCH_HEAPPROFILE names,
// if any, while the sessions are up (go test -memprofile only writes one at
// the end, when they are gone).
func heapProfile(tb testing.TB) {
	path := os.Getenv("XMPPBG_BENCH_HEAPPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Error(err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		tb.Error(err)
	}
}

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }
func mib(b int64) string   { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

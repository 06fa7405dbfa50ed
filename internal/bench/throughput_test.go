package bench_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/bench"
	"github.com/xmppbg/xmppbg/internal/prosody"
	"github.com/xmppbg/xmppbg/session"
)

// Throughput: chat messages from one account to another, with stream
// management on (the session's policy: an <r/> after a stanza when none is
// outstanding; Prosody's: an <r/> after nearly every stanza, which the
// receiver answers) and off (session.Config.DisableSM), over the same server
// in the same run. The sender keeps at most window messages in flight end to
// end, as a chat does; both modes get the same window.

const window = 100

// pair is a sender and a receiver session.
type pair struct {
	from, to *session.Session
	got      atomic.Int64
	wake     chan struct{}
}

func connectPair(tb testing.TB, srv *prosody.Server, a, b string, noSM bool) *pair {
	return connectPairModes(tb, srv, a, b, noSM, noSM, false)
}

func connectPairPersist(tb testing.TB, srv *prosody.Server, a, b string, noSM, persist bool) *pair {
	return connectPairModes(tb, srv, a, b, noSM, noSM, persist)
}

// connectPairModes connects a sender (a) and a receiver (b), each with or
// without SM; with persist, both sessions save their State to a file on every
// change (session.Config.Persist with State.Save), as an app that wants to
// resume after being killed does.
func connectPairModes(tb testing.TB, srv *prosody.Server, a, b string, noSMFrom, noSMTo, persist bool) *pair {
	tb.Helper()
	saver := func(user string) func(*session.State) {
		if !persist {
			return nil
		}
		path := filepath.Join(tb.TempDir(), user+".json")
		account := user + "@" + srv.Domain()
		return func(st *session.State) {
			if err := st.Save(path, account); err != nil {
				tb.Error(err)
			}
		}
	}
	p := &pair{wake: make(chan struct{}, 1)}
	ctx := context.Background()
	rc := sessionConfig(tb, srv, b, srv.Addr())
	rc.DisableSM = noSMTo
	rc.Persist = saver(b)
	rc.OnEvent = func(e session.Event) {
		if _, ok := e.(session.Received); ok {
			p.got.Add(1)
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
	var err error
	if p.to, err = session.Connect(ctx, rc, nil); err != nil {
		tb.Fatal(err)
	}
	sc := sessionConfig(tb, srv, a, srv.Addr())
	sc.DisableSM = noSMFrom
	sc.Persist = saver(a)
	if p.from, err = session.Connect(ctx, sc, nil); err != nil {
		tb.Fatal(err)
	}
	if p.from.Login().SM == noSMFrom || p.to.Login().SM == noSMTo {
		tb.Fatalf("SM %v/%v, want %v/%v", p.from.Login().SM, p.to.Login().SM, !noSMFrom, !noSMTo)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.from.Close(ctx)
		p.to.Close(ctx)
	})
	return p
}

// run sends n messages and returns once all have arrived (and, with SM,
// been acknowledged by the server).
func (p *pair) run(tb testing.TB, n int) (delivered, acked time.Duration) {
	tb.Helper()
	ctx := context.Background()
	to := p.to.JID()
	base := p.got.Load()
	t0 := time.Now()
	var last string
	for i := range n {
		for int64(i)-(p.got.Load()-base) >= window {
			select {
			case <-p.wake:
			case <-time.After(10 * time.Second):
				tb.Fatalf("stalled: %d of %d delivered", p.got.Load()-base, i)
			}
		}
		m, err := p.from.SendMessage(ctx, session.Message{To: to, Body: "message number " + strconv.Itoa(i)})
		if err != nil {
			tb.Fatal(err)
		}
		last = m.ID
	}
	for p.got.Load()-base < int64(n) {
		select {
		case <-p.wake:
		case <-time.After(10 * time.Second):
			tb.Fatalf("stalled: %d of %d delivered", p.got.Load()-base, n)
		}
	}
	delivered = time.Since(t0)
	if p.from.Login().SM {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := p.from.WaitAcked(wctx, last); err != nil {
			tb.Fatal(err)
		}
	}
	return delivered, time.Since(t0)
}

// BenchmarkThroughput: one op is one message delivered from one account to
// another. Profile the hot path with, e.g.:
//
//	go test -run '^$' -bench 'Throughput/sm' -benchtime 20000x -cpuprofile cpu.out -memprofile mem.out ./internal/bench
func BenchmarkThroughput(b *testing.B) {
	srv := startServer(b, prosody.Options{}, "ta", "tb", "tc", "td", "te", "tf")
	for _, m := range []struct {
		name          string
		noSM, persist bool
		a, b          string
	}{{"sm", false, false, "ta", "tb"}, {"nosm", true, false, "tc", "td"}, {"sm+persist", false, true, "te", "tf"}} {
		b.Run(m.name, func(b *testing.B) {
			p := connectPairPersist(b, srv, m.a, m.b, m.noSM, m.persist)
			w0 := p.from.BytesWritten() + p.to.BytesWritten()
			srvCPU := cpuTime(srv.PID())
			b.ReportAllocs()
			b.ResetTimer()
			d, _ := p.run(b, b.N)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/d.Seconds(), "msgs/s")
			b.ReportMetric(float64(p.from.BytesWritten()+p.to.BytesWritten()-w0)/float64(b.N), "client-B/msg")
			b.ReportMetric(float64(cpuTime(srv.PID())-srvCPU)/float64(b.N)/1e3, "server-cpu-µs/msg")
		})
	}
}

type tpRound struct {
	rate              float64 // messages per second, delivered
	clientCPU, srvCPU time.Duration
	bytesOut, bytesIn int64 // both client sessions
	n                 int
}

func reportThroughput(t *testing.T) {
	srv := startServer(t, prosody.Options{}, users("t", 6)...)
	n := envInt("XMPPBG_BENCH_MESSAGES", 5000)
	rounds := envInt("XMPPBG_BENCH_ROUNDS", 7)
	reportf("### Throughput: SM on vs off\n\n")
	reportf("%d rounds of %d messages from one account to another per mode, the order of the modes rotating each round (after one warm-up round each), window %d messages in flight; medians over rounds. \"sender only\": SM on the sending session (our acknowledgement requests), off on the receiving one (no server queue, no server <r/>).\n\n", rounds, n, window)
	measureThroughput(t, srv, n, rounds, "Prosody's defaults")
	// Prosody's Nagle algorithm against the receiver's delayed ACKs stalls
	// the server-to-receiver flow when nothing else flows the other way:
	// that hits SM off (the receiver sends nothing) and spares SM on (its
	// <a/> answers carry the ACKs). The same without Nagle:
	withoutNagle(t, srv)
	measureThroughput(t, srv, n, rounds, "Prosody with network_settings = { nagle = false } (experiment)")
}

func measureThroughput(t *testing.T, srv *prosody.Server, n, rounds int, title string) {
	modes := []struct {
		name             string
		noSMFrom, noSMTo bool
		p                *pair
		rs               []tpRound
	}{
		{name: "SM on"},
		{name: "SM off", noSMFrom: true, noSMTo: true},
		{name: "SM on the sender only", noSMTo: true},
	}
	for i := range modes {
		m := &modes[i]
		m.p = connectPairModes(t, srv, fmt.Sprintf("t%d", 2*i), fmt.Sprintf("t%d", 2*i+1), m.noSMFrom, m.noSMTo, false)
	}
	measure := func(p *pair) tpRound {
		o0, i0 := p.from.BytesWritten()+p.to.BytesWritten(), p.from.BytesRead()+p.to.BytesRead()
		c0, s0 := cpuTime(0), cpuTime(srv.PID())
		d, _ := p.run(t, n)
		return tpRound{
			rate:      float64(n) / d.Seconds(),
			clientCPU: cpuTime(0) - c0, srvCPU: cpuTime(srv.PID()) - s0,
			bytesOut: p.from.BytesWritten() + p.to.BytesWritten() - o0,
			bytesIn:  p.from.BytesRead() + p.to.BytesRead() - i0,
			n:        n,
		}
	}
	for _, m := range modes {
		measure(m.p)
	}
	load := loadAvg()
	var order []string
	for i := range rounds {
		for j := range modes {
			m := &modes[(i+j)%len(modes)]
			r := measure(m.p)
			m.rs = append(m.rs, r)
			order = append(order, fmt.Sprintf("%s %.0f", strings.TrimPrefix(m.name, "SM "), r.rate))
		}
	}
	med := func(rs []tpRound, f func(tpRound) float64) float64 {
		v := make([]time.Duration, len(rs))
		for i, r := range rs {
			v[i] = time.Duration(f(r) * 1e6)
		}
		return float64(bench.Summarize(v).Median) / 1e6
	}
	rate := func(r tpRound) float64 { return r.rate }
	ccpu := func(r tpRound) float64 { return float64(r.clientCPU.Microseconds()) / float64(r.n) }
	scpu := func(r tpRound) float64 { return float64(r.srvCPU.Microseconds()) / float64(r.n) }
	bout := func(r tpRound) float64 { return float64(r.bytesOut) / float64(r.n) }
	bin := func(r tpRound) float64 { return float64(r.bytesIn) / float64(r.n) }
	reportf("%s, load %s at start:\n\n", title, load)
	reportf("| mode | messages/s | client CPU µs/msg (both sessions) | Prosody CPU µs/msg | Prosody-bound capacity, msgs/s | client bytes out/msg | client bytes in/msg |\n|---|---|---|---|---|---|---|\n")
	for _, m := range modes {
		reportf("| %s | %.0f | %.1f | %.1f | %.0f | %.0f | %.0f |\n", m.name, med(m.rs, rate), med(m.rs, ccpu), med(m.rs, scpu), 1e6/med(m.rs, scpu), med(m.rs, bout), med(m.rs, bin))
	}
	on, off := modes[0].rs, modes[1].rs
	cost := 1 - med(on, rate)/med(off, rate)
	capOn, capOff := 1e6/med(on, scpu), 1e6/med(off, scpu)
	reportf("\nSM costs %.1f%% of the measured throughput (target < 10%%: %s) and %.0f%% of what one Prosody core can carry (its CPU per message); the clients' CPU per message changes by %+.0f%%. Rounds in the order they ran (msgs/s): %s.\n\n",
		100*cost, yesNo(cost < 0.10), 100*(1-capOn/capOff), 100*(med(on, ccpu)/med(off, ccpu)-1), strings.Join(order, ", "))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range modes {
		m.p.from.Close(ctx)
		m.p.to.Close(ctx)
	}
}

func yesNo(b bool) string {
	if b {
		return "met"
	}
	return "missed"
}

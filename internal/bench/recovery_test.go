package bench_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/bench"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/toxic"
	"github.com/xmppbg/xmppbg/session"
)

// Recovery: from "socket known dead" (the old connection aborted) to online,
// (a) resuming the stream (XEP-0198) and (b) a full fresh login (bind, SM
// enable, roster, presence), for each way of connecting, all interleaved in
// the same run so that every figure sees the same machine load.

// variant is one way of connecting.
type variant struct {
	name   string
	direct bool // XEP-0368 direct TLS
	noPipe bool // session.Config.NoPipelining
	// classic turns SASL2 off (session.Config.NoSASL2): the classic login
	// beside the modern one, on the servers that offer SASL2.
	classic bool
	// stall hides the socket from the session (stallDial): no quick ACKs
	// during the login, as before the session had them.
	stall bool
}

var variants = []variant{
	{name: "STARTTLS, no pipelining", noPipe: true},
	{name: "STARTTLS, pipelined"},
	{name: "direct TLS, pipelined", direct: true},
	{name: "direct TLS, pipelined, classic", direct: true, classic: true},
}

// withStalled returns vs followed by each of them without quick ACKs.
func withStalled(vs []variant) []variant {
	out := append([]variant(nil), vs...)
	for _, v := range vs {
		v.name += ", no quick ACK"
		v.stall = true
		out = append(out, v)
	}
	return out
}

type recovery struct {
	name                    string
	resume, fresh           []time.Duration
	resumeRTT, freshRTT     []int
	resumeTCP, freshTCP     []time.Duration
	resumeWire, freshWire   []bench.Turn // from the last cycle
	resumeBytes, freshBytes [2]int64     // in, out of the last cycle
}

// recoveryRig is a server and, with latency, proxies in front of its two
// ports.
type recoveryRig struct {
	srv              integration.Server
	addr, directAddr string
}

// recoveryAccounts is how many accounts a rig has: one per variant, stalled
// ones included.
const recoveryAccounts = 8

func startRecoveryRig(tb testing.TB, h integration.Harness, latency time.Duration) *recoveryRig {
	tb.Helper()
	raiseNoFile(tb)
	acc := map[string]string{}
	for i := range recoveryAccounts {
		acc[fmt.Sprintf("rec%d", i)] = pw
	}
	srv := h.Start(tb, integration.Options{DirectTLSPort: true, Accounts: acc})
	r := &recoveryRig{srv: srv, addr: srv.Addr(), directAddr: srv.DirectTLSAddr()}
	if latency > 0 {
		r.addr = proxy(tb, r.addr, latency)
		r.directAddr = proxy(tb, r.directAddr, latency)
	}
	return r
}

func proxy(tb testing.TB, upstream string, latency time.Duration) string {
	p, err := toxic.Start(upstream)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	if err := p.Latency(latency); err != nil {
		tb.Fatal(err)
	}
	return p.Addr()
}

// measureRecovery runs cycles of one resumption and one fresh login for each
// variant (at most recoveryAccounts), alternating which comes first.
func measureRecovery(tb testing.TB, rig *recoveryRig, vs []variant, cycles int) []*recovery {
	tb.Helper()
	ctx := context.Background()
	type acct struct {
		cfg    session.Config
		dialer *bench.MeteredDialer
		st     *session.State
		cur    *session.Session
		r      *recovery
	}
	var accts []*acct
	for i, v := range vs {
		a := &acct{dialer: &bench.MeteredDialer{}, st: &session.State{}, r: &recovery{name: v.name}}
		if v.stall {
			a.dialer.Wrap = stallDial
		}
		addr := rig.addr
		if v.direct {
			addr = rig.directAddr
		}
		a.cfg = sessionConfig(tb, rig.srv, fmt.Sprintf("rec%d", i), addr)
		a.cfg.Dial = a.dialer.Dial
		a.cfg.FetchRoster = true
		a.cfg.DirectTLS = v.direct
		a.cfg.NoPipelining = v.noPipe
		a.cfg.NoSASL2 = v.classic
		s, err := session.Connect(ctx, a.cfg, a.st)
		if err != nil {
			tb.Fatalf("%s: %v", v.name, err)
		}
		a.cur = s
		accts = append(accts, a)
	}
	resume := func(a *acct) {
		a.cur.Abort() // the socket is known dead
		t0 := time.Now()
		s, err := session.Connect(ctx, a.cfg, a.st)
		d := time.Since(t0)
		if err != nil {
			tb.Fatalf("%s: resume: %v", a.r.name, err)
		}
		if !s.Login().Resumed {
			tb.Fatalf("%s: not resumed: %+v", a.r.name, s.Login())
		}
		m, dial := a.dialer.Last()
		r := a.r
		r.resume = append(r.resume, d)
		r.resumeRTT = append(r.resumeRTT, m.RoundTrips())
		r.resumeTCP = append(r.resumeTCP, dial)
		r.resumeWire = m.Turns()
		r.resumeBytes[0], r.resumeBytes[1] = m.Bytes()
		a.cur = s
	}
	fresh := func(a *acct) {
		// End the old stream for good (outside the timing): the State
		// cannot be resumed any more, as after a suspension longer than
		// the server keeps a stream, and the server does not keep
		// hundreds of hibernating sessions. The State still tells what
		// the server offered last time, which the session may use.
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = a.cur.Close(cctx)
		cancel()
		st := a.st
		t0 := time.Now()
		s, err := session.Connect(ctx, a.cfg, st)
		d := time.Since(t0)
		if err != nil {
			tb.Fatalf("%s: fresh login: %v", a.r.name, err)
		}
		if s.Login().Resumed || !s.Login().SM {
			tb.Fatalf("%s: not a fresh session with SM: %+v", a.r.name, s.Login())
		}
		m, dial := a.dialer.Last()
		r := a.r
		r.fresh = append(r.fresh, d)
		r.freshRTT = append(r.freshRTT, m.RoundTrips())
		r.freshTCP = append(r.freshTCP, dial)
		r.freshWire = m.Turns()
		r.freshBytes[0], r.freshBytes[1] = m.Bytes()
		a.cur = s
	}
	for i := range cycles {
		for _, a := range accts {
			if i%2 == 0 {
				resume(a)
				fresh(a)
			} else {
				fresh(a)
				resume(a)
			}
		}
	}
	out := make([]*recovery, len(accts))
	for i, a := range accts {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = a.cur.Close(cctx)
		cancel()
		out[i] = a.r
	}
	return out
}

func (r *recovery) reportMetrics(b *testing.B) {
	rs, fs := bench.Summarize(r.resume), bench.Summarize(r.fresh)
	b.ReportMetric(float64(rs.Median)/1e6, "resume-ms/median")
	b.ReportMetric(float64(rs.P99)/1e6, "resume-ms/p99")
	b.ReportMetric(float64(fs.Median)/1e6, "fresh-ms/median")
	b.ReportMetric(float64(fs.P99)/1e6, "fresh-ms/p99")
	b.ReportMetric(float64(rs.Median)/float64(fs.Median), "ratio")
	b.ReportMetric(float64(bench.MedianInt(r.resumeRTT)), "resume-rtt")
	b.ReportMetric(float64(bench.MedianInt(r.freshRTT)), "fresh-rtt")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRecovery: one op is one resumption plus one fresh login, on each
// server (XMPPBG_TEST_SERVERS selects), with and without quick ACKs.
//
//	go test -run '^$' -bench 'Recovery/loopback' -benchtime 200x ./internal/bench
//	go test -run '^$' -bench 'Recovery/latency50ms' -benchtime 50x ./internal/bench
func BenchmarkRecovery(b *testing.B) {
	for _, lat := range []time.Duration{0, 50 * time.Millisecond} {
		name := "loopback"
		if lat > 0 {
			name = fmt.Sprintf("latency%dms", lat.Milliseconds())
		}
		b.Run(name, func(b *testing.B) {
			for _, h := range integration.Harnesses() {
				b.Run(h.Name, func(b *testing.B) {
					rig := startRecoveryRig(b, h, lat)
					vs := variants
					if lat == 0 {
						vs = withStalled(variants)
					}
					for _, v := range vs {
						b.Run(strings.NewReplacer(" ", "", ",", "-").Replace(v.name), func(b *testing.B) {
							r := measureRecovery(b, rig, []variant{v}, b.N)
							r[0].reportMetrics(b)
						})
					}
				})
			}
		})
	}
}

func reportRecovery(t *testing.T) {
	cycles := envInt("XMPPBG_BENCH_CYCLES", 200)
	latCycles := envInt("XMPPBG_BENCH_LATENCY_CYCLES", 50)
	reportf("### Recovery: resume (a) vs full login (b)\n\n")
	for _, h := range integration.Harnesses() {
		t.Run(h.Name, func(t *testing.T) {
			// Loopback: every variant with and without quick ACKs,
			// interleaved in one run.
			rig := startRecoveryRig(t, h, 0)
			title := fmt.Sprintf("%s, loopback, %d cycles, load %s", h.Name, cycles, loadAvg())
			loop := measureRecovery(t, rig, withStalled(variants), cycles)
			reportf("%s:\n\n", title)
			reportf("| connection | (a) resume median | (a) p99 | (b) full login median | (b) p99 | a/b (medians) | round trips a / b (+1 TCP) | (a) / (a) without quick ACK |\n|---|---|---|---|---|---|---|---|\n")
			n := len(variants)
			for i, r := range loop {
				reportRow(r)
				if i < n {
					reportf(" %.2f |\n", float64(bench.Summarize(r.resume).Median)/float64(bench.Summarize(loop[i+n].resume).Median))
				} else {
					reportf(" – |\n")
				}
			}
			reportf("\n")
			wires := []struct {
				title string
				rows  []*recovery
			}{{title, loop}}

			// +50 ms each way, compared with the loopback figures with
			// quick ACKs (the stall does not show through the proxy,
			// which acknowledges at once).
			const lat = 50 * time.Millisecond
			lrig := startRecoveryRig(t, h, lat)
			title = fmt.Sprintf("%s, +%v each way (toxic.Latency), %d cycles, load %s", h.Name, lat, latCycles, loadAvg())
			rows := measureRecovery(t, lrig, variants, latCycles)
			reportf("%s:\n\n", title)
			reportf("| connection | (a) resume median | (a) p99 | (b) full login median | (b) p99 | a/b (medians) | round trips a / b (+1 TCP) | round trips from the added latency a / b |\n|---|---|---|---|---|---|---|---|\n")
			for i, r := range rows {
				reportRow(r)
				rtt := float64(2 * lat)
				reportf(" %.1f / %.1f |\n", float64(bench.Summarize(r.resume).Median-bench.Summarize(loop[i].resume).Median)/rtt,
					float64(bench.Summarize(r.fresh).Median-bench.Summarize(loop[i].fresh).Median)/rtt)
			}
			reportf("\n")
			wires = append(wires, struct {
				title string
				rows  []*recovery
			}{title, rows})
			for _, w := range wires {
				reportWire(w.title, w.rows)
			}
		})
	}
}

// reportRow writes a table row's first seven cells.
func reportRow(r *recovery) {
	rs, fs := bench.Summarize(r.resume), bench.Summarize(r.fresh)
	reportf("| %s | %s ms | %s ms | %s ms | %s ms | %.2f | %d / %d |", r.name, bench.Ms(rs.Median), bench.Ms(rs.P99),
		bench.Ms(fs.Median), bench.Ms(fs.P99), float64(rs.Median)/float64(fs.Median),
		bench.MedianInt(r.resumeRTT), bench.MedianInt(r.freshRTT))
}

// reportWire writes the wire of the last cycle of each row, collapsed.
func reportWire(title string, rows []*recovery) {
	reportf("<details><summary>Wire of the last cycle, %s</summary>\n\n```\n", title)
	for _, r := range rows {
		reportf("== %s (TCP connect %s ms / %s ms, not counted)\n%s%s", r.name,
			bench.Ms(r.resumeTCP[len(r.resumeTCP)-1]), bench.Ms(r.freshTCP[len(r.freshTCP)-1]),
			wireTable("(a) resume", r.resumeWire, r.resumeBytes), wireTable("(b) full login", r.freshWire, r.freshBytes))
		rtts := map[string]int{}
		for _, n := range r.resumeRTT {
			rtts[fmt.Sprintf("a:%d", n)]++
		}
		for _, n := range r.freshRTT {
			rtts[fmt.Sprintf("b:%d", n)]++
		}
		reportf("round-trip counts over all cycles (kind:count → cycles): %v\n\n", rtts)
	}
	reportf("```\n\n</details>\n\n")
}

func wireTable(name string, turns []bench.Turn, bytes [2]int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d round trips, %d bytes out, %d bytes in\n", name, len(turns), bytes[1], bytes[0])
	for i, t := range turns {
		fmt.Fprintf(&b, "  %2d  answer at %7s ms  client wrote %5d B, then read %5d B\n", i+1, bench.Ms(t.At), t.Out, t.In)
	}
	return b.String()
}

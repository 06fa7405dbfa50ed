package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Resolver looks up DNS SRV records; *net.Resolver is one. See Config.Resolver.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// ErrNoService is returned by Connect when the account's domain publishes
// an SRV record with the target "." (RFC 6120 §3.2.1): it says it offers no
// XMPP client service, and no address is tried. reconnect takes it for
// permanent (retrying cannot change DNS), and the CLI exits 1 for it.
var ErrNoService = errors.New("the domain's DNS says it offers no XMPP client service (SRV target \".\")")

// The SRV services of XMPP clients.
const (
	srvDirectTLS = "xmpps-client" // XEP-0368: TLS from the first byte
	srvStartTLS  = "xmpp-client"  // RFC 6120 §3.2: STARTTLS
)

// endpoint is a place to connect to.
type endpoint struct {
	addr      string // host:port
	directTLS bool
	service   string // the SRV service it came from, "" for the fallback
}

// srvRecord is an SRV record of one of the two services.
type srvRecord struct {
	net.SRV
	directTLS bool
}

// endpoints returns where to connect for domain, in order: the targets of
// the _xmpps-client and _xmpp-client SRV records (both looked up; only the
// first with directOnly), merged and ordered by priority and weight (RFC
// 2782, XEP-0368 §3), else fallback. A failed lookup (no records, no
// answer) gives the fallback, as RFC 6120 §3.2.2 says; a "." target gives
// ErrNoService.
func endpoints(ctx context.Context, r Resolver, domain string, directOnly bool, fallback endpoint, log *slog.Logger) ([]endpoint, error) {
	type answer struct {
		recs []*net.SRV
		err  error
	}
	lookup := func(service string) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			_, recs, err := r.LookupSRV(ctx, service, "tcp", domain)
			ch <- answer{recs, err}
		}()
		return ch
	}
	dch := lookup(srvDirectTLS)
	var sch <-chan answer
	if !directOnly {
		sch = lookup(srvStartTLS)
	}
	var recs []srvRecord
	noService := map[bool]bool{} // by directTLS: the domain says "none"
	collect := func(ch <-chan answer, direct bool, service string) {
		if ch == nil {
			return
		}
		a := <-ch
		if a.err != nil {
			// Go's resolver returns the valid records with an error for
			// the others: use them.
			log.Debug("SRV lookup", slog.String("service", service), slog.String("domain", domain), slog.Any("err", a.err))
		}
		for _, rec := range a.recs {
			if rec == nil {
				continue
			}
			if rec.Target == "." || rec.Target == "" {
				noService[direct] = true
				continue
			}
			recs = append(recs, srvRecord{SRV: *rec, directTLS: direct})
		}
	}
	collect(dch, true, srvDirectTLS)
	collect(sch, false, srvStartTLS)
	if len(recs) == 0 {
		// RFC 6120 §3.2.1: "." means the service is decidedly not
		// available. The xmpps-client record's "." says only that there
		// is no direct TLS: without xmpp-client records the fallback is
		// still tried.
		if noService[directOnly] {
			return nil, ErrNoService
		}
		return []endpoint{fallback}, nil
	}
	recs = orderSRV(recs, rand.IntN)
	eps := make([]endpoint, 0, len(recs))
	for _, rec := range recs {
		service := srvStartTLS
		if rec.directTLS {
			service = srvDirectTLS
		}
		eps = append(eps, endpoint{
			addr:      net.JoinHostPort(strings.TrimSuffix(rec.Target, "."), strconv.Itoa(int(rec.Port))),
			directTLS: rec.directTLS,
			service:   service,
		})
	}
	return eps, nil
}

// orderSRV orders records as RFC 2782 says: by priority, lowest first, and
// within a priority at random, each record's chance of coming next
// proportional to its weight (zero-weight records have a small one).
// intn(n) returns a number in [0, n).
func orderSRV(recs []srvRecord, intn func(int) int) []srvRecord {
	slices.SortStableFunc(recs, func(a, b srvRecord) int { return cmp.Compare(a.Priority, b.Priority) })
	out := make([]srvRecord, 0, len(recs))
	for len(recs) > 0 {
		n := 1
		for n < len(recs) && recs[n].Priority == recs[0].Priority {
			n++
		}
		group := slices.Clone(recs[:n])
		recs = recs[n:]
		// Zero weights first, so that they can be picked when the number
		// drawn is 0.
		slices.SortStableFunc(group, func(a, b srvRecord) int {
			return cmp.Compare(min(a.Weight, 1), min(b.Weight, 1))
		})
		for len(group) > 0 {
			sum := 0
			for _, r := range group {
				sum += int(r.Weight)
			}
			pick, run := intn(sum+1), 0
			i := 0
			for ; i < len(group)-1; i++ {
				run += int(group[i].Weight)
				if run >= pick {
					break
				}
			}
			out = append(out, group[i])
			group = slices.Delete(group, i, i+1)
		}
	}
	return out
}

// dialDiscovered dials the endpoints of the account's domain in order
// until one answers, each given an equal share of the time left before
// deadline (the last all of it), and returns the connection and where it
// goes. Only when Config.Addr was empty; otherwise the one address.
func (s *Session) dialDiscovered(ctx context.Context, dial func(string, time.Time) (net.Conn, error), deadline time.Time) (net.Conn, endpoint, error) {
	cfg := s.cfg
	fallback := endpoint{addr: cfg.Addr, directTLS: cfg.DirectTLS}
	if cfg.srvDomain == "" {
		conn, err := dial(fallback.addr, deadline)
		return conn, fallback, err
	}
	lctx, cancel := context.WithDeadline(ctx, deadline)
	eps, err := endpoints(lctx, cfg.Resolver, cfg.srvDomain, cfg.DirectTLS, fallback, s.log)
	cancel()
	if err != nil {
		return nil, fallback, err
	}
	var errs []error
	for i, ep := range eps {
		d := deadline
		if left := len(eps) - i; left > 1 {
			d = time.Now().Add(time.Until(deadline) / time.Duration(left))
		}
		conn, err := dial(ep.addr, d)
		if err == nil {
			if ep.service != "" {
				s.log.Info("server found through DNS SRV", slog.String("service", "_"+ep.service+"._tcp."+cfg.srvDomain),
					slog.String("addr", ep.addr), slog.Bool("direct_tls", ep.directTLS))
			}
			return conn, ep, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
		s.log.Info("server unreachable, trying the next", slog.String("addr", ep.addr), slog.Any("err", err))
	}
	if len(errs) == 1 {
		return nil, eps[0], errs[0]
	}
	// One line: each address's error (they name it), all wrapped.
	format := "no server of %s answered:" + strings.Repeat(" %w;", len(errs))
	args := append([]any{cfg.srvDomain}, anySlice(errs)...)
	return nil, eps[0], fmt.Errorf(strings.TrimSuffix(format, ";"), args...)
}

func anySlice(errs []error) []any {
	out := make([]any, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return out
}

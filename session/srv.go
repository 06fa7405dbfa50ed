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

// The port of the direct TLS fallback.
const (
	// DefaultDirectTLSPort is the port the domain is tried on with direct
	// TLS, before DefaultPort with STARTTLS, when Config.DirectTLS asks
	// for direct TLS, Config.Addr is empty and the domain publishes no SRV
	// record. XEP-0368 assigns no port (SRV records name it); 5223 is the
	// one servers customarily use (Prosody's and ejabberd's examples, the
	// old "legacy SSL" port).
	DefaultDirectTLSPort = "5223"
)

// srvLookupShare is the share of the login's time the SRV lookups may take:
// a third (10 s of the default 30 s). That is room for a resolver's one
// lost query and its retry (Go's and glibc's resolvers wait 5 s before
// they ask again), and leaves two thirds for the dial and the login. A
// resolver that has not answered by then counts as a failed lookup, and
// the domain itself is tried (RFC 6120 §3.2.2).
const srvLookupShare = 3

// endpoint is a place to connect to.
type endpoint struct {
	addr      string // host:port
	directTLS bool
	service   string // the SRV service it came from, "" otherwise
	why       string // why it is tried, for the debug log
	guess     bool   // a port no record named (DefaultDirectTLSPort)
}

// srvRecord is an SRV record of one of the two services.
type srvRecord struct {
	net.SRV
	directTLS bool
}

// endpoints returns where to connect for domain, in order (RFC 6120 §3.2,
// XEP-0368):
//
//   - the targets of the _xmpps-client (direct TLS) and _xmpp-client
//     (STARTTLS) SRV records, both looked up. They are merged and ordered
//     by priority and weight (RFC 2782, XEP-0368 §3); with preferDirect,
//     which XEP-0368 allows ("clients MAY choose to prefer one type of
//     connection"), the _xmpps-client targets come first, then the
//     _xmpp-client ones: STARTTLS is always required and verified here,
//     so falling back to it loses no security, and a domain that offers
//     only STARTTLS is still reached.
//   - without any record (none published, a failed lookup, or no answer
//     before ctx ends), the domain itself, as RFC 6120 §3.2.2 says: on
//     DefaultPort with STARTTLS; with preferDirect first on
//     DefaultDirectTLSPort with direct TLS. Direct TLS to 5222 would never
//     work: that port speaks STARTTLS. When something that does not speak
//     direct TLS answers on that guessed port, Connect tries STARTTLS on
//     DefaultPort after the failed handshake.
//   - a "." target (RFC 2782: the service is decidedly not available)
//     with no usable record gives ErrNoService. For _xmpps-client, "."
//     says only that there is no direct TLS: the _xmpp-client records are
//     used; without them XEP-0368 §5 forbids the fallback to the domain
//     ("the service provider has already indicated that the SRV protocol
//     is supported").
//
// The lookups must return once ctx ends; endpoints does not wait longer.
func endpoints(ctx context.Context, r Resolver, domain string, preferDirect bool, log *slog.Logger) ([]endpoint, error) {
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
	dch, sch := lookup(srvDirectTLS), lookup(srvStartTLS)
	recs := map[bool][]srvRecord{} // by directTLS
	noService := false             // a "." target
	collect := func(ch <-chan answer, direct bool, service string) {
		var a answer
		select {
		case a = <-ch:
		case <-ctx.Done():
			// A resolver that ignores ctx is not waited for either.
			select {
			case a = <-ch:
			default:
				a.err = ctx.Err()
			}
		}
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
				noService = true
				continue
			}
			recs[direct] = append(recs[direct], srvRecord{SRV: *rec, directTLS: direct})
		}
	}
	collect(dch, true, srvDirectTLS)
	collect(sch, false, srvStartTLS)
	var ordered []srvRecord
	switch {
	case len(recs[true])+len(recs[false]) == 0 && noService:
		return nil, ErrNoService
	case len(recs[true])+len(recs[false]) == 0:
		port := net.JoinHostPort(domain, DefaultPort)
		starttls := endpoint{addr: port, why: "no SRV record for the domain: the domain itself on the XMPP client port with STARTTLS (RFC 6120 §3.2.2)"}
		if !preferDirect {
			return []endpoint{starttls}, nil
		}
		starttls.why = "no SRV record for the domain, and direct TLS on " + DefaultDirectTLSPort + " failed: the domain itself with STARTTLS (RFC 6120 §3.2.2)"
		return []endpoint{{
			addr:      net.JoinHostPort(domain, DefaultDirectTLSPort),
			directTLS: true,
			guess:     true,
			why:       "no SRV record for the domain: the domain itself on the customary direct TLS port (XEP-0368 assigns none; 5222 speaks STARTTLS)",
		}, starttls}, nil
	case preferDirect:
		ordered = append(orderSRV(recs[true], rand.IntN), orderSRV(recs[false], rand.IntN)...)
	default:
		ordered = orderSRV(append(recs[true], recs[false]...), rand.IntN)
	}
	eps := make([]endpoint, 0, len(ordered))
	for _, rec := range ordered {
		service := srvStartTLS
		if rec.directTLS {
			service = srvDirectTLS
		}
		why := fmt.Sprintf("SRV _%s._tcp.%s, priority %d weight %d", service, domain, rec.Priority, rec.Weight)
		if preferDirect && !rec.directTLS {
			why += " (direct TLS preferred, STARTTLS after the _xmpps-client targets)"
		}
		eps = append(eps, endpoint{
			addr:      net.JoinHostPort(strings.TrimSuffix(rec.Target, "."), strconv.Itoa(int(rec.Port))),
			directTLS: rec.directTLS,
			service:   service,
			why:       why,
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
//
// A resumption or a FAST login first tries the server the last session
// was connected to (State.Server), with half the time, before it looks
// the domain up again: among SRV targets of equal priority the order is
// random, and the stream to resume lives on one of them. The lookups get
// at most a third of the time left (srvLookupShare).
func (s *Session) dialDiscovered(ctx context.Context, dial func(string, time.Time) (net.Conn, error), deadline time.Time) (net.Conn, endpoint, error) {
	cfg := s.cfg
	if cfg.srvDomain == "" {
		ep := endpoint{addr: cfg.Addr, directTLS: cfg.DirectTLS}
		conn, err := dial(ep.addr, deadline)
		return conn, ep, err
	}
	var errs []error
	last, haveLast := s.lastServer()
	if haveLast {
		conn, err := dial(last.addr, time.Now().Add(time.Until(deadline)/2))
		if err == nil {
			s.atLast = true
			s.log.Debug("server chosen", slog.String("addr", last.addr), slog.Bool("direct_tls", last.directTLS), slog.String("why", last.why))
			return conn, last, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return nil, last, err
		}
		s.log.Info("the last session's server is unreachable, looking the domain up again", slog.String("addr", last.addr), slog.Any("err", err))
	}
	lctx, cancel := context.WithDeadline(ctx, time.Now().Add(time.Until(deadline)/srvLookupShare))
	eps, err := endpoints(lctx, cfg.Resolver, cfg.srvDomain, cfg.DirectTLS, s.log)
	timedOut := lctx.Err() != nil && ctx.Err() == nil
	cancel()
	if err != nil {
		return nil, endpoint{addr: cfg.Addr}, err
	}
	if timedOut {
		s.log.Info("DNS SRV lookup unanswered in time, going on with what was found", slog.String("domain", cfg.srvDomain),
			slog.Any("endpoints", addrList(eps)))
	}
	if haveLast {
		eps = slices.DeleteFunc(eps, func(ep endpoint) bool { return ep.addr == last.addr && ep.directTLS == last.directTLS })
	}
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
			s.log.Debug("server chosen", slog.String("addr", ep.addr), slog.Bool("direct_tls", ep.directTLS), slog.String("why", ep.why))
			return conn, ep, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
		s.log.Info("server unreachable, trying the next", slog.String("addr", ep.addr), slog.Any("err", err))
	}
	if len(eps) == 0 {
		eps = []endpoint{last}
	}
	if len(errs) == 1 {
		return nil, eps[0], errs[0]
	}
	// One line: each address's error (they name it), all wrapped.
	format := "no server of %s answered:" + strings.Repeat(" %w;", len(errs))
	args := append([]any{cfg.srvDomain}, anySlice(errs)...)
	return nil, eps[0], fmt.Errorf(strings.TrimSuffix(format, ";"), args...)
}

// lastServer returns the server the last session was connected to, when
// this login should try it first: the stream can be resumed, or a FAST
// token is at hand (a cluster node may keep its tokens to itself).
func (s *Session) lastServer() (endpoint, bool) {
	st := s.st
	if st == nil || st.Server == "" {
		return endpoint{}, false
	}
	now := s.cfg.now()
	var why string
	switch {
	case st.Resumable(now):
		why = "the server of the last session, where the stream to resume is"
	case st.FAST.usable(now) && !s.cfg.NoSASL2:
		why = "the server of the last session, which issued the FAST token"
	default:
		return endpoint{}, false
	}
	return endpoint{addr: st.Server, directTLS: st.ServerDirectTLS, why: why}, true
}

// rememberServer records in the State where this session is connected,
// for the next login (lastServer); only for a server found through DNS,
// not Config.Addr or the resumption location. A login at Config.Addr
// forgets the server of an earlier one: the stream and the FAST token are
// no longer there. (A login at the location keeps it: the location is
// the address of that server's node, given by it.) Called with s.mu held.
func (s *Session) rememberServer(ep endpoint) {
	if s.cfg.srvDomain == "" {
		s.st.Server, s.st.ServerDirectTLS = "", false
		return
	}
	if s.atLocation {
		return
	}
	s.st.Server, s.st.ServerDirectTLS = ep.addr, ep.directTLS
}

func addrList(eps []endpoint) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = ep.addr
	}
	return out
}

func anySlice(errs []error) []any {
	out := make([]any, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return out
}

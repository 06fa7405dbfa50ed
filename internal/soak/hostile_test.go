//go:build unix

package soak_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppbg/xmppbg/session"
)

// A hostile stanza: what any user can send another through the server
// (issue 11): mallory sends it to alice or bob mid-run. Each is counted
// apart in the ledger: the receiver must report it skipped or deliver it
// intact, exactly once, and lose nothing else.
type hostile struct {
	name string
	// body is the message body, deep its nesting below <message/> (after
	// the body).
	body string
	deep int
	// relayed says whether srv passes it on (see integration.Caps).
	relayed func(r *rig) bool
}

var hostiles = []hostile{
	// The depth that used to make the decoder fail and the stanza come
	// back on every resumption. It is not sent to a server that does not
	// relay it (Caps.RelaysDeepXML): sent to an online user of ejabberd
	// 23.01 it brings the whole server down (connections refused from
	// then on, checked by hand on 2026-11-30): the server's fault, which
	// the soak cannot survive and does not test.
	{name: "nested 10,001 deep", body: "deep", deep: 10_000, relayed: func(r *rig) bool { return r.srv.Caps().RelaysDeepXML }},
	// Just past session.MaxStanzaDepth: every server relays it.
	{name: "nested 300 deep", body: "deep", deep: 300, relayed: func(*rig) bool { return true }},
	// 250 KB of apostrophes, within the servers' stanza limits as sent;
	// Prosody sends each as &apos;, 1.5 MB: over the in-process client's
	// 1 MiB cap (skipped), under the process's default (delivered).
	{name: "250 KB of apostrophes", body: strings.Repeat("'", 250_000), relayed: func(*rig) bool { return true }},
}

// mallory logs in with mellium (package session never writes such XML),
// writes raw, and closes the stream, which the server handles after
// everything written before.
func (r *rig) mallory(ctx context.Context, raw string) error {
	tlsCfg, err := session.TLSConfig(r.srv.Domain(), r.srv.CAFile(), false)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.srv.Addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	origin := jid.MustParse("mallory@" + r.srv.Domain())
	s, err := xmpp.NewClientSession(ctx, origin, conn,
		xmpp.StartTLS(tlsCfg), xmpp.SASL("", pw, sasl.ScramSha1, sasl.Plain), xmpp.BindResource())
	if err != nil {
		return fmt.Errorf("mallory: login: %w", err)
	}
	c := s.Conn()
	if _, err := io.WriteString(c, raw); err != nil {
		return fmt.Errorf("mallory: write: %w", err)
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("mallory: close: %w", err)
	}
	// The server closes its stream once it has handled ours.
	_, _ = io.Copy(io.Discard, c)
	return nil
}

// sendHostile sends h from mallory to a random receiver and, when the
// server relays it, waits until the receiver reported or delivered it.
func (r *rig) sendHostile(h hostile) error {
	to := r.alice.name
	if r.rnd.IntN(2) == 0 {
		to = r.bob.name
	}
	r.mu.Lock()
	r.poisonN++
	id := fmt.Sprintf("hostile-%d", r.poisonN)
	r.poisonBody[id] = h.body
	r.mu.Unlock()
	relayed := h.relayed(r)
	r.led.Poison(to, id, h.name, relayed)
	if !relayed {
		return nil
	}
	toJID := to + "@" + r.srv.Domain()
	raw := `<message to='` + toJID + `' type='chat' id='` + id + `'><body>` + h.body + `</body>` +
		strings.Repeat("<x>", h.deep) + strings.Repeat("</x>", h.deep) + `</message>`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.mallory(ctx, raw); err != nil {
		return err
	}
	deadline := time.Now().Add(backTimeout)
	for !r.led.PoisonSeen(to, id) {
		if time.Now().After(deadline) {
			return fmt.Errorf("hostile %s (%s) to %s: neither reported nor delivered within %v", id, h.name, to, backTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// received routes a message delivered to the application of to: a
// numbered message into the ledger, one of mallory's as a hostile stanza.
func (r *rig) received(to, from, id, body string, delayed bool) {
	switch bare(from) {
	case "mallory@" + r.srv.Domain():
		r.mu.Lock()
		want, ok := r.poisonBody[id]
		r.mu.Unlock()
		if !ok {
			r.t.Errorf("%s received an unknown message from mallory, id %q", to, id)
		}
		r.led.PoisonDelivered(to, id, ok && body == want)
		return
	}
	sender, n, ok := parseBody(body)
	if !ok {
		r.t.Errorf("%s received an unexpected message %.100q from %s", to, body, from)
		return
	}
	if err := r.led.Delivered(sender, n, delayed); err != nil {
		r.t.Error(err)
	}
}

// skipped records a stanza the receiver to reported skipped.
func (r *rig) skipped(to, from, id, reason string) {
	if bare(from) != "mallory@"+r.srv.Domain() {
		r.t.Errorf("%s skipped a stanza %q from %s (%s), not mallory's", to, id, from, reason)
	}
	r.mu.Lock()
	r.skipReasons[reason]++
	r.mu.Unlock()
	r.led.PoisonSkipped(to, id)
}

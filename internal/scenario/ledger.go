package scenario

import (
	"fmt"

	"github.com/xmppbg/xmppbg/session"
)

// flow is the ledger of one direction, keyed by origin-id: what the sender
// sent, and how many times the receiving application got each message.
type flow struct {
	sent []string          // keys, in the order sent
	body map[string]string // key -> body
	seen map[string]bool   // sent
	got  map[string]int    // received by the peer's application
}

func newFlow() *flow {
	return &flow{body: map[string]string{}, seen: map[string]bool{}, got: map[string]int{}}
}

// key identifies a message across resends: its origin-id, else its id.
func key(m session.Message) string {
	if m.OriginID != "" {
		return m.OriginID
	}
	return m.ID
}

// addSent enters a message sent, once.
func (f *flow) addSent(key, body string) {
	if f.seen[key] {
		return
	}
	f.seen[key] = true
	f.body[key] = body
	f.sent = append(f.sent, key)
}

// addGot counts a message received.
func (f *flow) addGot(key string) { f.got[key]++ }

// distinct is the number of different messages received.
func (f *flow) distinct() int { return len(f.got) }

// missing returns the bodies of the messages sent and not received.
func (f *flow) missing() []string {
	var out []string
	for _, k := range f.sent {
		if f.got[k] == 0 {
			out = append(out, f.body[k])
		}
	}
	return out
}

// duplicated describes the messages received more than once.
func (f *flow) duplicated() []string {
	var out []string
	for _, k := range f.sent {
		if f.got[k] > 1 {
			out = append(out, fmt.Sprintf("%s (%d times)", f.body[k], f.got[k]))
		}
	}
	return out
}

// summary counts the flow for the Result.
func (f *flow) summary(from, to string) Flow {
	fl := Flow{From: from, To: to, Sent: len(f.sent)}
	for k := range f.got {
		if !f.seen[k] {
			fl.Unexpected++
		}
	}
	for _, k := range f.sent {
		switch n := f.got[k]; {
		case n > 1:
			fl.Duplicated++
			fl.Delivered++
		case n == 1:
			fl.Delivered++
		}
	}
	fl.Lost = fl.Sent - fl.Delivered
	return fl
}

// allDelivered reports whether every message sent either way arrived;
// r.mu must be held.
func (r *runner) allDelivered() bool {
	return len(r.alice.flow.missing()) == 0 && len(r.bob.flow.missing()) == 0
}

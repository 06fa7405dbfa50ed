package driver

import (
	"testing"

	"github.com/xmppbg/xmppbg/session"
)

// TestPending checks the one list of unacknowledged messages: sends add,
// resends add, acks remove, an ack that overtakes its send is kept until
// the send arrives.
func TestPending(t *testing.T) {
	var p pending
	check := func(wantQueued, wantUnacked int) {
		t.Helper()
		if q, u := p.count(); q != wantQueued || u != wantUnacked {
			t.Errorf("count = %d queued, %d unacked; want %d, %d", q, u, wantQueued, wantUnacked)
		}
	}
	msg := func(id string) session.Message { return session.Message{ID: id} }
	check(0, 0)
	p.note(Sent{Message: msg("a")})
	p.note(Sent{Message: msg("b"), Queued: true})
	check(1, 1)
	p.note(Sent{Message: msg("b")}) // the queued one goes out
	check(0, 2)
	p.note(Acked{IDs: []string{"a"}})
	check(0, 1)
	p.note(Acked{IDs: []string{"c"}}) // before its Sent
	p.note(Sent{Message: msg("c")})
	check(0, 1)
	p.note(Resent{IDs: []string{"b", "d"}, Delayed: true}) // d: from a state file
	check(0, 2)
	p.note(Acked{IDs: []string{"b", "d"}})
	check(0, 0)
	// A message held offline, acknowledged before the Sent of it going
	// out.
	p.note(Sent{Message: msg("e"), Queued: true})
	check(1, 0)
	p.note(Acked{IDs: []string{"e"}})
	p.note(Sent{Message: msg("e")})
	check(0, 0)
	p.note(StateChanged{State: Online})
	check(0, 0)
}

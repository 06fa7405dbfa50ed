package soak_test

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/soak"
)

func TestLedger(t *testing.T) {
	t0 := time.Now()
	l := soak.NewLedger()
	for n := range 8 {
		l.Sent("a", n, string(rune('A'+n)), t0)
	}
	l.Acked("a", []string{"A", "B", "C", "D", "E", "F", "G"}, t0.Add(time.Second))
	l.Restarted("a", t0.Add(2*time.Second), syscall.SIGTERM, false)
	l.Restarted("b", t0.Add(3*time.Second), syscall.SIGKILL, false) // another sender's view
	l.Restarted("a", t0.Add(3*time.Second), syscall.SIGKILL, false)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Delivered("a", 0, false))
	must(l.Delivered("a", 2, false))
	must(l.Delivered("a", 1, true)) // late: stored, carries a delay
	must(l.Delivered("a", 3, false))
	must(l.Delivered("a", 3, false)) // duplicated
	must(l.Delivered("a", 5, false))
	must(l.Delivered("a", 4, false)) // live after a later live one
	// 6: acked before the SIGKILL, never delivered: lost by the crash.
	// 7: never acked, never delivered: lost.
	must(l.Delivered("a", 9, false)) // never sent
	l.Dropped("a")
	s := l.Summary()
	want := soak.Summary{Sent: 8, Delivered: 5, Duplicated: 1, Lost: 1, LostByCrash: 1, OrderViolations: 1, Late: 1, Delayed: 1, Dropped: 1, Unsent: 1}
	s.Detail = nil
	if s.String() != want.String() {
		t.Errorf("got  %v\nwant %v", s, want)
	}
}

func TestLedgerCrashNeedsKillAfterAck(t *testing.T) {
	t0 := time.Now()
	l := soak.NewLedger()
	l.Sent("a", 0, "x", t0)
	l.Restarted("a", t0.Add(time.Second), syscall.SIGKILL, false) // before the ack
	l.Acked("a", []string{"x"}, t0.Add(2*time.Second))
	l.Acked("a", []string{"y"}, t0.Add(2*time.Second)) // before Sent is recorded
	l.Sent("a", 1, "y", t0)
	l.Restarted("a", t0.Add(3*time.Second), syscall.SIGTERM, false) // not a crash
	l.Sent("a", 2, "z", t0)
	l.Acked("a", []string{"z"}, t0.Add(2*time.Second))
	l.Restarted("b", t0.Add(3*time.Second), syscall.SIGKILL, false) // another sender's connection
	if s := l.Summary(); s.Lost != 3 || s.LostByCrash != 0 {
		t.Errorf("lost %d, by crash %d; want 3, 0", s.Lost, s.LostByCrash)
	}
}

// The ledger must catch what the soak exists to find: a lost message and a
// duplicated one each fail the summary, in either direction.
func TestLedgerCatchesLossAndDuplicate(t *testing.T) {
	t0 := time.Now()
	for _, tc := range []struct {
		name    string
		deliver []int // message numbers delivered, in order
		lost    int
		dup     int
	}{
		{"all once", []int{0, 1, 2}, 0, 0},
		{"one lost", []int{0, 2}, 1, 0},
		{"one twice", []int{0, 1, 1, 2}, 0, 1},
	} {
		for _, from := range []string{"alice", "bob"} {
			l := soak.NewLedger()
			for n := range 3 {
				l.Sent(from, n, from+strconv.Itoa(n), t0)
			}
			for _, n := range tc.deliver {
				if err := l.Delivered(from, n, false); err != nil {
					t.Fatal(err)
				}
			}
			s := l.Summary()
			if s.Lost != tc.lost || s.Duplicated != tc.dup || s.Failed() != (tc.lost+tc.dup > 0) {
				t.Errorf("%s, from %s: %v, failed %v", tc.name, from, s, s.Failed())
			}
		}
	}
}

// A message typed into a process that was then killed may arrive once or
// never; twice is a duplicate. One typed into a live process that never
// reports it accepted fails, and so does one delivered that was never typed.
func TestLedgerInDoubt(t *testing.T) {
	l := soak.NewLedger()
	l.Sent("bob", 0, "id0", time.Now())
	for n := 1; n <= 4; n++ {
		l.Typed("bob", n)
	}
	l.InDoubt("bob", 1) // arrives once
	l.InDoubt("bob", 2) // never arrives
	l.InDoubt("bob", 3) // arrives twice
	// 4: typed, never accepted, the process never died.
	for _, n := range []int{0, 1, 3, 3, 5} {
		if err := l.Delivered("bob", n, false); err != nil {
			t.Fatal(err)
		}
	}
	s := l.Summary()
	if s.InDoubt != 3 || s.InDoubtDelivered != 1 || s.Duplicated != 1 || s.Unaccepted != 1 || s.Unsent != 1 || s.Lost != 0 || s.Delivered != 1 || !s.Failed() {
		t.Errorf("got %v", s)
	}
	if l.Missing() != 1 {
		t.Errorf("Missing() = %d, want 1 (the unaccepted message)", l.Missing())
	}
}

// Hostile stanzas are counted apart: each is reported skipped or delivered
// intact exactly once, or, where the server refuses it, never comes.
func TestLedgerPoison(t *testing.T) {
	l := soak.NewLedger()
	l.Poison("alice", "deep", "deep", true)
	l.PoisonSkipped("alice", "deep")
	l.Poison("bob", "big", "big", true)
	l.PoisonDelivered("bob", "big", true)
	l.Poison("bob", "refused", "deep", false)
	s := l.Summary()
	if s.Failed() || s.PoisonSent != 3 || s.PoisonSkipped != 1 || s.PoisonDelivered != 1 || s.PoisonNotRelayed != 1 {
		t.Fatalf("clean run: %v", s)
	}

	l.Poison("alice", "silent", "deep", true) // never reported
	if l.Missing() != 1 {
		t.Errorf("Missing() = %d, want the silent stanza", l.Missing())
	}
	l.Poison("alice", "twice", "deep", true)
	l.PoisonSkipped("alice", "twice")
	l.PoisonSkipped("alice", "twice")
	l.Poison("bob", "altered", "big", true)
	l.PoisonDelivered("bob", "altered", false)
	l.PoisonSkipped("bob", "invented")
	s = l.Summary()
	if !s.Failed() || s.PoisonSilent != 1 || s.PoisonRepeated != 1 || s.PoisonDamaged != 1 || s.PoisonUnknown != 1 {
		t.Errorf("bad run: %v", s)
	}
}

// A message delivered again to a restarted process after SIGKILL (the last
// one the killed process printed) is counted apart, not as a second
// delivery; a redelivery of a message never delivered before is reported.
func TestLedgerRedelivered(t *testing.T) {
	l := soak.NewLedger()
	l.Sent("alice", 0, "a0", time.Now())
	l.Sent("alice", 1, "a1", time.Now())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Delivered("alice", 0, false))
	l.Redelivered("alice", 0)
	must(l.Delivered("alice", 1, false))
	s := l.Summary()
	if s.Failed() || s.RedeliveredAfterKill != 1 || s.Delivered != 2 || len(s.Detail) != 0 {
		t.Fatalf("got %v %q", s, s.Detail)
	}
	l.Sent("alice", 2, "a2", time.Now())
	l.Redelivered("alice", 2)
	if s := l.Summary(); !s.Failed() || len(s.Detail) == 0 {
		t.Errorf("a redelivery of a message never delivered passed: %v %q", s, s.Detail)
	}
}

// A SIGTERM loses what the server held when it keeps its queues in memory
// only (ejabberd): volatile, like a SIGKILL.
func TestLedgerVolatileSIGTERM(t *testing.T) {
	t0 := time.Now()
	l := soak.NewLedger()
	l.Sent("a", 0, "x", t0)
	l.Acked("a", []string{"x"}, t0.Add(time.Second))
	l.Restarted("a", t0.Add(2*time.Second), syscall.SIGTERM, true)
	if s := l.Summary(); s.Lost != 0 || s.LostByCrash != 1 {
		t.Errorf("lost %d, by crash %d; want 0, 1", s.Lost, s.LostByCrash)
	}
}

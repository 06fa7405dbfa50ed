package soak_test

import (
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
	l.Restarted("a", t0.Add(2*time.Second), syscall.SIGTERM)
	l.Restarted("b", t0.Add(3*time.Second), syscall.SIGKILL) // another sender's view
	l.Restarted("a", t0.Add(3*time.Second), syscall.SIGKILL)
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
	l.Restarted("a", t0.Add(time.Second), syscall.SIGKILL) // before the ack
	l.Acked("a", []string{"x"}, t0.Add(2*time.Second))
	l.Acked("a", []string{"y"}, t0.Add(2*time.Second)) // before Sent is recorded
	l.Sent("a", 1, "y", t0)
	l.Restarted("a", t0.Add(3*time.Second), syscall.SIGTERM) // not a crash
	l.Sent("a", 2, "z", t0)
	l.Acked("a", []string{"z"}, t0.Add(2*time.Second))
	l.Restarted("b", t0.Add(3*time.Second), syscall.SIGKILL) // another sender's connection
	if s := l.Summary(); s.Lost != 3 || s.LostByCrash != 0 {
		t.Errorf("lost %d, by crash %d; want 3, 0", s.Lost, s.LostByCrash)
	}
}

package session_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// connectAck connects to f with the given ack timeout (0: the default).
func connectAck(t *testing.T, f *fake, ackTimeout time.Duration) *session.Session {
	t.Helper()
	f.t = t
	cfg := testConfig(f, (&collector{}).on)
	cfg.AckTimeout = ackTimeout
	s, err := session.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(s.Abort)
	return s
}

// endedAt waits for s to end and returns how long after start it did.
func endedAt(t *testing.T, s *session.Session, start time.Time) time.Duration {
	t.Helper()
	<-s.Done()
	return time.Since(start)
}

func wantAckTimeout(t *testing.T, s *session.Session) {
	t.Helper()
	var ce *session.ConnError
	if err := s.Err(); !errors.Is(err, session.ErrAckTimeout) || !errors.As(err, &ce) {
		t.Fatalf("session ended with %v, want a *ConnError wrapping ErrAckTimeout", err)
	}
}

func sendMsg(t *testing.T, s *session.Session, body string) session.Message {
	t.Helper()
	m, err := s.SendMessage(context.Background(), session.Message{To: "bob@example.org", Body: body})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return m
}

// A message written into a connection that answers nothing ends the session
// exactly DefaultAckTimeout after it, and stays in the State for the next
// session.
func TestAckTimeoutEndsSilentConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		s := connectAck(t, f, 0)
		f.expect("presence")
		f.expect("r")
		f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
		synctest.Wait()
		// Healthy and idle: nothing waits for an answer, nothing times out.
		time.Sleep(time.Hour)
		if err := s.Err(); err != nil {
			t.Fatalf("an idle session ended: %v", err)
		}

		start := time.Now()
		m := sendMsg(t, s, "into the void")
		f.expect("message")
		f.expect("r")
		if d := endedAt(t, s, start); d != session.DefaultAckTimeout {
			t.Fatalf("ended %v after the send, want %v", d, session.DefaultAckTimeout)
		}
		wantAckTimeout(t, s)
		st := s.State()
		if len(st.Unacked) != 1 || st.Unacked[0].ID != m.ID {
			t.Fatalf("unacked %v, want the message, for the next session to resend", st.Unacked)
		}
	})
}

// Any <a/> proves the connection alive and restarts the wait for what is
// still unacknowledged; a slow but answering server is not declared dead.
func TestAckTimeoutRestartsOnEveryAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		s := connectAck(t, f, 10*time.Second)
		f.expect("presence")
		f.expect("r")
		// Slow: answered after 9 s.
		time.Sleep(9 * time.Second)
		f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
		synctest.Wait()

		start := time.Now()
		sendMsg(t, s, "one")
		f.expect("message")
		f.expect("r")
		sendMsg(t, s, "two") // covered by the <r/> outstanding
		f.expect("message")
		// 8 s later the server acknowledges the first only: the client
		// asks again, and the wait starts again.
		time.Sleep(8 * time.Second)
		f.send(`<a xmlns='urn:xmpp:sm:3' h='2'/>`)
		f.expect("r")
		if d := endedAt(t, s, start); d != 18*time.Second {
			t.Fatalf("ended %v after the first send, want 18s (10s after the last answer)", d)
		}
		wantAckTimeout(t, s)
		if st := s.State(); len(st.Unacked) != 1 || st.Unacked[0].Message.Body != "two" {
			t.Fatalf("unacked %+v, want the second message", st.Unacked)
		}
	})
}

func TestAckTimeoutOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{}
		s := connectAck(t, f, -1)
		f.expect("presence")
		f.expect("r")
		sendMsg(t, s, "unanswered")
		f.expect("message")
		time.Sleep(time.Hour)
		if err := s.Err(); err != nil {
			t.Fatalf("ended with the ack timeout off: %v", err)
		}
	})
}

// Without stream management a ping follows what is sent; unanswered, it
// ends the session after the ack timeout.
func TestAckTimeoutWithoutSM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{noSM: true}
		s := connectAck(t, f, 0)
		f.expect("presence")
		ping := f.expect("iq")
		if _, ok := ping.child("ping"); !ok {
			t.Fatalf("after the presence: %s, want a ping", ping)
		}
		f.send(`<iq type='result' id='` + ping.attr("id") + `' from='example.org'/>`)
		synctest.Wait()
		time.Sleep(time.Hour)
		if err := s.Err(); err != nil {
			t.Fatalf("an idle session ended: %v", err)
		}

		// Answered with an error: still an answer.
		sendMsg(t, s, "one")
		f.expect("message")
		ping = f.expect("iq")
		f.send(`<iq type='error' id='` + ping.attr("id") + `' from='example.org'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
		synctest.Wait()

		// Two messages while a ping is out: a second ping covers the
		// second; it goes unanswered.
		start := time.Now()
		sendMsg(t, s, "two")
		f.expect("message")
		ping = f.expect("iq")
		sendMsg(t, s, "three")
		f.expect("message")
		time.Sleep(time.Second)
		f.send(`<iq type='result' id='` + ping.attr("id") + `' from='example.org'/>`)
		f.expect("iq")
		if d := endedAt(t, s, start); d != time.Second+session.DefaultAckTimeout {
			t.Fatalf("ended %v after the send, want %v", d, time.Second+session.DefaultAckTimeout)
		}
		wantAckTimeout(t, s)
	})
}

// A resumed stream that acknowledges nothing, not even the resend, is given
// up by the ack timeout as by an unanswered probe: no loop of resumptions
// into the same silence.
func TestAckTimeoutGivesUpSilentResumedStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fake{resume: func(string, uint32) string {
			return `<resumed xmlns='urn:xmpp:sm:3' previd='RID' h='0'/>`
		}}
		f.t = t
		st := &session.State{ID: "RID", JID: "alice@example.org/res1", LastAlive: time.Now(),
			Unacked: []session.Stanza{msgStanza("m1")}}
		cfg := testConfig(f, (&collector{}).on)
		cfg.AckTimeout = 0
		s, err := session.Connect(context.Background(), cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Abort)
		f.expect("message") // the resend, swallowed
		start := time.Now()
		if d := endedAt(t, s, start); d != session.DefaultAckTimeout {
			t.Fatalf("ended after %v, want %v", d, session.DefaultAckTimeout)
		}
		wantAckTimeout(t, s)
		if !errors.Is(s.Err(), session.ErrResumedStreamSilent) {
			t.Fatalf("Err = %v, want it to wrap ErrResumedStreamSilent too", s.Err())
		}
		if st2 := s.State(); st2.Resumable(time.Now()) || st2.Pending() != 1 {
			t.Fatalf("state %v, want not resumable, the message kept", st2)
		}
	})
}

// A process stopped (SIGSTOP) for longer than the ack timeout while a
// message waits for its <a/>: when it runs again the timer is overdue and
// fires at once, racing the read loop for the <a/> the server sent
// meanwhile, which waits in the socket buffer. The session must read it
// rather than declare a healthy connection dead. A connection that is dead
// indeed still ends, ackGrace later. The freeze is the clock jumping (the
// monotonic clock runs on while a process is stopped; the test's timers,
// in the bubble, cannot be made late).
func TestAckTimeoutAfterAFreeze(t *testing.T) {
	for _, dead := range []bool{false, true} {
		name := "healthy"
		if dead {
			name = "dead"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fake{t: t}
				s, frozen := connectFreezable(t, f)
				f.expect("presence")
				f.expect("r")
				f.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
				synctest.Wait()

				start := time.Now()
				sendMsg(t, s, "before the freeze")
				f.expect("message")
				f.expect("r")
				// Stopped for ten minutes just before the timer was due.
				if freezeBeforeDeadline(t, s, frozen, start, dead, "the timer") {
					return
				}
				// Running again: the read loop reads the <a/> waiting for it.
				f.send(`<a xmlns='urn:xmpp:sm:3' h='2'/>`)
				synctest.Wait()
				time.Sleep(time.Hour)
				if err := s.Err(); err != nil {
					t.Fatalf("a healthy connection ended after a freeze: %v", err)
				}
				if st := s.State(); len(st.Unacked) != 0 {
					t.Fatalf("unacked after the <a/>: %v", st.Unacked)
				}
			})
		})
	}
}

// The same freeze without stream management: the ping that plays the
// <a/>'s part after a send is due while the process is stopped, and its
// answer waits in the socket buffer when it runs again. The late deadline
// must give the read side the same grace as the ack timer: a healthy
// connection survives (no new login), a dead one still ends.
func TestAckTimeoutPingAfterAFreeze(t *testing.T) {
	for _, dead := range []bool{false, true} {
		name := "healthy"
		if dead {
			name = "dead"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fake{t: t, noSM: true}
				s, frozen := connectFreezable(t, f)
				f.expect("presence")
				ping := f.expect("iq")
				f.send(`<iq type='result' id='` + ping.attr("id") + `' from='example.org'/>`)
				synctest.Wait()

				start := time.Now()
				sendMsg(t, s, "before the freeze")
				f.expect("message")
				ping = f.expect("iq")
				if _, ok := ping.child("ping"); !ok {
					t.Fatalf("after the message: %s, want a ping", ping)
				}
				// Stopped for ten minutes just before the ping's deadline.
				if freezeBeforeDeadline(t, s, frozen, start, dead, "the ping's deadline") {
					return
				}
				// Running again: the read loop reads the answer waiting for it.
				f.send(`<iq type='result' id='` + ping.attr("id") + `' from='example.org'/>`)
				synctest.Wait()
				time.Sleep(time.Hour)
				if err := s.Err(); err != nil {
					t.Fatalf("a healthy connection ended after a freeze: %v", err)
				}
			})
		})
	}
}

// freezeBeforeDeadline stops the process (its clock, frozen, jumps ten
// minutes) a millisecond before the deadline armed at start is due, in a
// synctest bubble. what (the timer that armed it) must not declare the
// connection dead before the read loop has run. With dead (nothing will
// answer), the session must then end by the ack timeout within 5 s of it;
// freezeBeforeDeadline reports true when it has, and the test is done.
func freezeBeforeDeadline(t *testing.T, s *session.Session, frozen *atomic.Int64, start time.Time, dead bool, what string) bool {
	t.Helper()
	time.Sleep(session.DefaultAckTimeout - time.Millisecond)
	frozen.Store(int64(10 * time.Minute))
	time.Sleep(2 * time.Millisecond)
	synctest.Wait()
	if err := s.Err(); err != nil {
		t.Fatalf("%s declared the connection dead before reading it: %v", what, err)
	}
	if !dead {
		return false
	}
	if d := endedAt(t, s, start); d > session.DefaultAckTimeout+5*time.Second {
		t.Fatalf("a dead connection ended %v after the send, want within 5 s of the ack timeout", d)
	}
	wantAckTimeout(t, s)
	return true
}

// connectFreezable logs in to f with the default ack timeout and a clock
// that the returned value moves ahead, as a process stopped and continued
// sees it (see freezeBeforeDeadline).
func connectFreezable(t *testing.T, f *fake) (*session.Session, *atomic.Int64) {
	t.Helper()
	frozen := new(atomic.Int64)
	cfg := testConfig(f, (&collector{}).on)
	cfg.AckTimeout = 0
	session.SetClock(&cfg, func() time.Time { return time.Now().Add(time.Duration(frozen.Load())) })
	s, err := session.Connect(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Abort)
	return s, frozen
}

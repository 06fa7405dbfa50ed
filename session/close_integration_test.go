package session_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/session"
)

// A session closed right after it got messages has told the server it
// handled them, the last one included though the application was still busy
// with it: the next session (without the State, as a new install) gets none
// of them again. A server re-routes what was not acknowledged when the
// stream ended (ejabberd, with resend_on_timeout, to offline storage, then to
// the next session), so without a last <a/> before </stream:stream> the
// messages the server sent after its last <r/> came twice.
func TestIntegrationCloseAcknowledgesReceived(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		bob := mustConnect(t, clientConfig(t, srv, "bob", nil), nil)
		box := newInbox()
		want := bodies("m", 20)
		// The application is still busy with the last message when it
		// closes the session (it returns from OnEvent 2 s later, or once
		// Close has returned): Close must count it, not end the stream
		// before it is handled.
		closeReturned := make(chan struct{})
		on := func(e session.Event) {
			box.on(e)
			if r, ok := e.(session.Received); ok && r.Message.Body == want[len(want)-1] {
				select {
				case <-closeReturned:
				case <-time.After(2 * time.Second):
				}
			}
		}
		alice := mustConnect(t, clientConfig(t, srv, "alice", on), nil)
		// Routed to alice's session once the server has her presence.
		if err := alice.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, b := range want {
			if _, err := bob.SendMessage(context.Background(), session.Message{To: "alice@" + srv.Domain(), Body: b}); err != nil {
				t.Fatal(err)
			}
		}
		exactlyOnce(t, box.waitFor(t, len(want), 10*time.Second), want)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := alice.Close(ctx)
		close(closeReturned)
		if err != nil {
			t.Fatalf("Close: %v", err)
		}

		again := newInbox()
		next := mustConnect(t, clientConfig(t, srv, "alice", again.on), nil)
		// Whatever the server stored comes with the initial presence,
		// before the answer to a ping that follows it, and before the
		// marker.
		if err := next.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		marker := fmt.Sprintf("marker %d", time.Now().UnixNano())
		if _, err := bob.SendMessage(context.Background(), session.Message{To: "alice@" + srv.Domain(), Body: marker}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; {
			got := again.all()
			if slices.ContainsFunc(got, func(m session.Message) bool { return m.Body == marker }) {
				if len(got) > 1 {
					t.Errorf("the next session got again some of what the closed one handled: %v", bodiesOf(got))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the marker did not arrive; got %v", bodiesOf(got))
			}
			again.wait(len(got)+1, time.Second)
		}
	})
}

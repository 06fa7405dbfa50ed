package session_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// Every wait of a login has a bound (issue 11, item 11): cancelling the
// context ends a login to a server that never answers at once (mellium
// clears the socket deadline when the context ends, so the socket itself is
// closed), and a dial that hangs is bounded by the login timeout.
func TestLoginWaitsAreBounded(t *testing.T) {
	t.Run("cancel during negotiation", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			var b [4096]byte
			for { // a silent server: reads, never answers
				if _, err := c.Read(b[:]); err != nil {
					return
				}
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err = session.Connect(ctx, session.Config{JID: "alice@example.org", Password: "pw", Addr: ln.Addr().String(), LoginTimeout: time.Minute}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Connect = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Connect returned %v after the context was cancelled", d)
		}
	})
	t.Run("dial bounded by the login timeout", func(t *testing.T) {
		start := time.Now()
		_, err := session.Connect(context.Background(), session.Config{
			JID: "alice@example.org", Password: "pw", Addr: "127.0.0.1:9", LoginTimeout: 200 * time.Millisecond,
			// A black-holed host: the dial waits for its context.
			Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			},
		}, nil)
		var ce *session.ConnError
		if !errors.As(err, &ce) || ce.Op != "dial" {
			t.Errorf("Connect = %v, want a dial ConnError", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the dial took %v with a 200ms login timeout", d)
		}
	})
}

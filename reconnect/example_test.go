package reconnect_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
)

// A client that stays connected: it resumes the stream after a loss, or opens
// a fresh session, with jittered backoff between attempts.
func ExampleNew() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := reconnect.New(reconnect.Config{
		Session: session.Config{JID: "alice@example.org", Password: os.Getenv("XMPPBG_PASSWORD")},
		Backoff: reconnect.Backoff{Initial: time.Second, Max: time.Minute},
		OnEvent: func(e reconnect.Event) {
			switch e := e.(type) {
			case reconnect.StatusChanged:
				fmt.Println("state:", e.Status)
			case reconnect.Received:
				fmt.Println(e.Message.From+":", e.Message.Body)
			}
		},
	})
	go c.Run(ctx)
	// Sent now if online, else queued and sent in order once back.
	_, _ = c.Send(ctx, "bob@example.org", "hello")
}

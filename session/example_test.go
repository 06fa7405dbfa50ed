package session_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// Connect, send, and carry the stream over to a new connection.
func ExampleConnect() {
	ctx := context.Background()
	tlsCfg, err := session.TLSConfig("example.org", "", false)
	if err != nil {
		log.Fatal(err)
	}
	cfg := session.Config{
		JID:      "alice@example.org",
		Password: os.Getenv("XMPPBG_PASSWORD"),
		TLS:      tlsCfg,
		OnEvent: func(e session.Event) {
			if r, ok := e.(session.Received); ok {
				fmt.Println(r.Message.From+":", r.Message.Body)
			}
		},
	}
	st := &session.State{}
	s, err := session.Connect(ctx, cfg, st)
	if err != nil {
		log.Fatal(err)
	}
	m, _ := s.SendMessage(ctx, session.Message{To: "bob@example.org", Body: "hi"})
	_ = s.WaitAcked(ctx, m.ID) // the server has it

	// Leave the stream resumable (as an app about to be suspended does),
	// then come back: the same State resumes it.
	_ = s.Detach()
	s, err = session.Connect(ctx, cfg, st)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resumed:", s.Login().Resumed)
	_ = s.Close(ctx)
}

// A State saved to a file lets another process resume the stream; the file
// is readable by its owner only and never shows the resumption id.
func ExampleLoadState() {
	path := filepath.Join(os.TempDir(), "xmppbg-example-state.json")
	defer os.Remove(path)
	st := &session.State{ID: "secret-resumption-id", JID: "alice@example.org/phone", Max: 5 * time.Minute}
	if err := st.Save(path, "alice@example.org"); err != nil {
		log.Fatal(err)
	}
	loaded, err := session.LoadState(path, "alice@example.org")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(loaded)
	fmt.Println(loaded.Resumable(time.Now()))
	_, err = session.LoadState(path, "mallory@example.org")
	fmt.Println(err != nil)
	// Output:
	// session.State{resumable:true jid:alice@example.org/phone in:0 out:0 unacked:0 orphans:0 sasl2:false fast:false}
	// true
	// true
}

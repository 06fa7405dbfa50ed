//go:build unix

package scenario

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/suspend"
)

// fakeChat is a stand-in for "xmppbg chat --json": a shell script that
// prints the events the real one prints, for each line it reads.
const fakeChat = `#!/bin/sh
[ "$XMPPBG_PASSWORD" = secret ] || { echo '{"event":"error","error":"no password"}'; exit 3; }
echo '{"event":"state","time":"2026-01-01T00:00:00.000Z","state":"connecting"}'
echo '{"event":"state","time":"2026-01-01T00:00:00.000Z","state":"online"}'
n=0
while read -r line; do
	n=$((n+1))
	case "$line" in
	"/msg bob@x refused") echo '{"event":"error","time":"2026-01-01T00:00:00.000Z","error":"no such peer","input":"/msg bob@x refused"}' ;;
	/msg*) echo "{\"event\":\"sent\",\"time\":\"2026-01-01T00:00:00.000Z\",\"id\":\"id$n\",\"to\":\"bob@x\"}"
		echo "{\"event\":\"acked\",\"time\":\"2026-01-01T00:00:00.000Z\",\"ids\":[\"id$n\"]}" ;;
	/suspend) echo '{"event":"state","time":"2026-01-01T00:00:00.000Z","state":"suspended"}' ;;
	/resume) echo '{"event":"woke","time":"2026-01-01T00:00:00.000Z","cause":"sigcont","action":"probe"}'
		echo '{"event":"state","time":"2026-01-01T00:00:00.000Z","state":"resuming"}'
		echo '{"event":"dead","time":"2026-01-01T00:00:00.000Z","probe":true,"ms":2000,"error":"no answer"}'
		echo '{"event":"resumed","time":"2026-01-01T00:00:00.000Z","ms":50,"attempt":1}'
		echo '{"event":"message","time":"2026-01-01T00:00:00.000Z","from":"bob@x/r","to":"alice@x","body":"hi","id":"b1","delayed":true,"delay":"2026-01-01T00:00:00.000Z"}'
		echo '{"event":"state","time":"2026-01-01T00:00:00.000Z","state":"online","ms":2050}' ;;
	esac
done
echo '{"event":"quit","time":"2026-01-01T00:00:00.000Z","reason":"eof"}'
`

// The process account types commands, reads the JSON events back as driver
// events, pairs each typed message with its id, and really stops and
// continues the process.
func TestProcAccount(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-xmppbg")
	if err := os.WriteFile(bin, []byte(fakeChat), 0o755); err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		evs []driver.Event
	)
	a := newProcAccount(bin, "alice@x", "secret", "127.0.0.1:1", "", "bob@x", suspend.PolicyHold, time.Second, func(e driver.Event) {
		mu.Lock()
		evs = append(evs, e)
		mu.Unlock()
	})
	if strings.Contains(strings.Join(a.args, " "), "secret") {
		t.Fatalf("the password is in the arguments: %v", a.args)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	m, err := a.Send(ctx, "bob@x", "hello")
	if err != nil || m.ID != "id1" || m.OriginID != "id1" || m.Body != "hello" {
		t.Fatalf("Send = %+v, %v", m, err)
	}
	if _, err := a.Send(ctx, "bob@x", "refused"); err == nil || err.Error() != "no such peer" {
		t.Errorf("a refused send: %v", err)
	}
	if a.Status() != reconnect.Online || a.AppState() != suspend.Active {
		t.Errorf("status %v, app %v", a.Status(), a.AppState())
	}

	if err := a.Freeze(); err != nil || !a.Frozen() {
		t.Fatalf("Freeze: %v, frozen %v", err, a.Frozen())
	}
	// Typed while stopped: it waits in the pipe, the process answers
	// nothing until it is continued.
	sendDone := make(chan error, 1)
	go func() { _, err := a.Send(ctx, "bob@x", "typed while frozen"); sendDone <- err }()
	select {
	case err := <-sendDone:
		t.Fatalf("a stopped process answered: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := a.Thaw(); err != nil || a.Frozen() {
		t.Fatalf("Thaw: %v, frozen %v", err, a.Frozen())
	}
	if err := <-sendDone; err != nil {
		t.Fatal(err)
	}

	if _, err := a.Exec(ctx, driver.Command{Op: driver.OpSuspend}); err != nil {
		t.Fatal(err)
	}
	if err := a.Foreground(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Status() != reconnect.Online || a.AppState() != suspend.Active || len(names(&mu, &evs)) < 14 {
		if time.Now().After(deadline) {
			t.Fatalf("status %v, app %v, events %v", a.Status(), a.AppState(), names(&mu, &evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Run after the process ended: %v", err)
	}

	want := "state state sent acked error sent acked state woke state dead resumed message state"
	if got := strings.Join(names(&mu, &evs), " "); got != want {
		t.Errorf("events %s\nwant   %s", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range evs {
		switch e := e.(type) {
		case driver.Sent:
			if e.Message.Body == "" || e.Message.ID == "" {
				t.Errorf("sent without its body or id: %+v", e)
			}
		case driver.Received:
			if e.Message.Body != "hi" || !e.Message.Delayed() || key(e.Message) != "b1" {
				t.Errorf("received %+v", e.Message)
			}
		case driver.Dead:
			if !e.ByProbe || e.Took != 2*time.Second || e.Err == nil {
				t.Errorf("dead %+v", e)
			}
		case note:
			if e.name == "woke" && !strings.Contains(e.text, "sigcont") {
				t.Errorf("woke %+v", e)
			}
		}
	}
}

func names(mu *sync.Mutex, evs *[]driver.Event) []string {
	mu.Lock()
	defer mu.Unlock()
	var out []string
	for _, e := range *evs {
		out = append(out, eventName(e))
	}
	return out
}

package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

func sampleState() *session.State {
	return &session.State{
		ID: "super-secret-id", Location: "127.0.0.1:5222", Max: 5 * time.Minute,
		JID: "alice@example.org/r", InH: 42, OutH: 4294967295,
		Unacked:   []session.Stanza{msgStanza("m1"), iqStanza("q1")},
		Orphans:   []session.Stanza{msgStanza("m0")},
		LastAlive: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Inactive:  true,
		SASL2:     []string{"SCRAM-SHA-1"},
		FAST:      &session.FASTToken{Mechanism: "HT-SHA-256-EXPR", Token: "super-secret-token", Expiry: time.Date(2026, 12, 25, 10, 0, 0, 0, time.UTC)},
	}
}

func TestStateSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st := sampleState()
	if err := st.Save(path, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600: the file holds the resumption id", fi.Mode().Perm())
	}
	got, err := session.LoadState(path, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != st.ID || got.InH != 42 || got.OutH != 4294967295 || got.Max != st.Max ||
		len(got.Unacked) != 2 || len(got.Orphans) != 1 || !got.Inactive ||
		got.Unacked[0].Message.Body != "body m1" || !bytes.Equal(got.Unacked[1].Raw, st.Unacked[1].Raw) ||
		got.FAST == nil || *got.FAST != *st.FAST || len(got.SASL2) != 1 {
		t.Errorf("round trip: got %+v", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestLoadStateMissingFile(t *testing.T) {
	st, err := session.LoadState(filepath.Join(t.TempDir(), "none.json"), "a@b")
	if err != nil || st == nil || st.Resumable(time.Now()) {
		t.Fatalf("LoadState(missing) = %v, %v; want an empty state", st, err)
	}
}

func TestLoadStateBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := sampleState().Save(good, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)

	t.Run("other account", func(t *testing.T) {
		st, err := session.LoadState(good, "mallory@example.org")
		if !errors.Is(err, session.ErrForeignStateFile) || st.Pending() != 0 || st.ID != "" {
			t.Fatalf("got %v, %v; want nothing from another account's file", st, err)
		}
		if strings.Contains(err.Error(), "super-secret-id") {
			t.Error("error shows the resumption id")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		p := filepath.Join(dir, "trunc.json")
		os.WriteFile(p, raw[:len(raw)/2], 0o600)
		st, err := session.LoadState(p, "alice@example.org")
		if !errors.Is(err, session.ErrStateFile) || st == nil || st.ID != "" {
			t.Fatalf("got %v, %v", st, err)
		}
	})
	t.Run("one bad stanza", func(t *testing.T) {
		p := filepath.Join(dir, "bad.json")
		bad := bytes.Replace(raw, []byte(`"Kind":"iq"`), []byte(`"Kind":"bogus"`), 1)
		os.WriteFile(p, bad, 0o600)
		st, err := session.LoadState(p, "alice@example.org")
		if !errors.Is(err, session.ErrStateFile) {
			t.Fatalf("err = %v", err)
		}
		if st.Resumable(time.Now()) || len(st.Orphans) != 2 {
			t.Fatalf("salvaged %v, want the two messages as orphans and no resumption", st)
		}
	})
	t.Run("same account, other spelling", func(t *testing.T) {
		st, err := session.LoadState(good, "Alice@EXAMPLE.org")
		if err != nil || st.ID == "" || st.Pending() != 3 {
			t.Fatalf("got %v, %v; want the file, accounts compared normalised", st, err)
		}
	})
	t.Run("other account, other version", func(t *testing.T) {
		// Never salvaged: its messages would be sent from the wrong account.
		p := filepath.Join(dir, "foreign-v.json")
		os.WriteFile(p, bytes.Replace(raw, []byte(`"version":2`), []byte(`"version":99`), 1), 0o600)
		st, err := session.LoadState(p, "mallory@example.org")
		if !errors.Is(err, session.ErrForeignStateFile) || !errors.Is(err, session.ErrStateFile) || st.Pending() != 0 {
			t.Fatalf("got %v, %v; want nothing and ErrForeignStateFile", st, err)
		}
	})
	t.Run("no account", func(t *testing.T) {
		p := filepath.Join(dir, "anon.json")
		os.WriteFile(p, raw[:20], 0o600)
		st, err := session.LoadState(p, "alice@example.org")
		if !errors.Is(err, session.ErrForeignStateFile) || st.Pending() != 0 {
			t.Fatalf("got %v, %v; want nothing from a file that does not say whose it is", st, err)
		}
	})
	t.Run("other version", func(t *testing.T) {
		p := filepath.Join(dir, "v.json")
		os.WriteFile(p, bytes.Replace(raw, []byte(`"version":2`), []byte(`"version":99`), 1), 0o600)
		st, err := session.LoadState(p, "alice@example.org")
		if !errors.Is(err, session.ErrStateFile) || st.ID != "" || len(st.Orphans) != 3 {
			t.Fatalf("got %v, %v; want the messages salvaged", st, err)
		}
	})
}

func TestStateNeverLogsItsID(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("state", "st", sampleState())
	st := sampleState()
	for _, out := range []string{buf.String(), st.String(), fmt.Sprintf("%v %+v %s", st, st.FAST, st.FAST)} {
		for _, secret := range []string{"super-secret-id", "super-secret-token"} {
			if strings.Contains(out, secret) {
				t.Fatalf("secret in output: %s", out)
			}
		}
	}
}

// A State copied by value (Session.State's result dereferenced, a field of
// the caller's own struct) is no less secret than through a pointer: no fmt
// verb and no slog handler shows the resumption id or the FAST token.
func TestStateValueNeverPrinted(t *testing.T) {
	st := *sampleState()
	type holder struct {
		St  session.State
		Ptr *session.State
	}
	h := holder{St: st, Ptr: &st}
	var nilSt *session.State
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("state", "st", st, "ptr", &st, "holder", h)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("state", "st", st, "ptr", &st, "holder", h)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s %q %v %+v %#v %v %v", st, st, st, st, st, &st, h, h, nilSt, []session.State{st})
	for _, secret := range []string{"super-secret-id", "super-secret-token"} {
		if strings.Contains(out, secret) {
			t.Fatalf("%s in output: %s", secret, out)
		}
	}
	if !strings.Contains(out, st.JID) || !strings.Contains(out, "resumable") {
		t.Errorf("the state's description is not shown: %s", out)
	}
	if got := nilSt.String(); got != "session.State(nil)" {
		t.Errorf("nil State String = %q", got)
	}
}

// A FAST token copied out of the State (a value, not a pointer) is no less
// secret: no fmt verb, no slog handler and no JSON encoding shows it.
func TestFASTTokenValueNeverPrinted(t *testing.T) {
	tok := *sampleState().FAST
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("token", "tok", tok, "ptr", &tok, "nested", struct{ T session.FASTToken }{tok})
	for _, v := range []any{tok, &tok, struct{ T *session.FASTToken }{&tok}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	slog.New(slog.NewTextHandler(&buf, nil)).Info("token", "tok", tok, "ptr", &tok)
	var nilTok *session.FASTToken
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s %v %#v %v", tok, tok, tok, tok, &tok, &tok, nilTok)
	if strings.Contains(out, "super-secret-token") {
		t.Fatalf("the token in output: %s", out)
	}
	if !strings.Contains(out, tok.Mechanism) {
		t.Errorf("the mechanism is not shown: %s", out)
	}
}

// A state file written before SASL2 and FAST (version 1) loads as it was,
// resumable, and is written back as version 2 with the token.
func TestLoadStateVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	v1 := `{"version":1,"account":"alice@example.org","ID":"old-id","Location":"","Max":300000000000,` +
		`"JID":"alice@example.org/r","SM":true,"InH":3,"OutH":2,"Unacked":[{"Kind":"message","ID":"m1","To":"bob@example.org",` +
		`"Sent":"2026-11-25T10:00:00Z","Raw":"PG1lc3NhZ2UvPg==","Message":{"ID":"m1","To":"bob@example.org","Body":"hi"}}],` +
		`"Orphans":null,"LastAlive":"2026-11-25T10:00:00Z","Inactive":false}`
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := session.LoadState(path, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "old-id" || !st.SM || st.InH != 3 || len(st.Unacked) != 1 || st.FAST != nil || len(st.SASL2) != 0 || !st.Resumable(time.Now()) {
		t.Fatalf("version 1 loaded as %+v", st)
	}
	st.FAST = &session.FASTToken{Mechanism: "HT-SHA-256-NONE", Token: "tok"}
	if err := st.Save(path, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"version":2`)) {
		t.Errorf("saved as %s", raw)
	}
	again, err := session.LoadState(path, "alice@example.org")
	if err != nil || again.FAST == nil || again.FAST.Token != "tok" || again.ID != "old-id" {
		t.Fatalf("reloaded %+v, %v", again, err)
	}
}

func TestResumable(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		st   session.State
		want bool
	}{
		{session.State{}, false},
		{session.State{ID: "x"}, true},
		{session.State{ID: "x", Max: time.Minute, Closed: now.Add(-59 * time.Second)}, true},
		{session.State{ID: "x", Max: time.Minute, Closed: now.Add(-time.Minute)}, false},
		// Lost without the client closing it: the server may not know yet.
		{session.State{ID: "x", Max: time.Minute, LastAlive: now.Add(-time.Hour)}, true},
	} {
		if got := tc.st.Resumable(now); got != tc.want {
			t.Errorf("%v.Resumable = %t, want %t", tc.st, got, tc.want)
		}
	}
}

// Connect refuses another account's State before it dials: its orphans
// would be resent from this account, its resumption id and FAST token
// offered for it. The error names the accounts, never the secrets, and
// the State is left as it was.
func TestConnectRefusesForeignState(t *testing.T) {
	st := sampleState() // alice@example.org/r
	dialed := false
	_, err := session.Connect(context.Background(), session.Config{
		JID: "bob@example.org", Password: "pw", Addr: "127.0.0.1:1",
		Dial: func(context.Context, string, string) (net.Conn, error) {
			dialed = true
			return nil, errors.New("no network in this test")
		},
	}, st)
	if !errors.Is(err, session.ErrConfig) || dialed {
		t.Fatalf("Connect with alice's State as bob: err %v, dialed %t; want ErrConfig before any dial", err, dialed)
	}
	for _, secret := range []string{"super-secret-id", "super-secret-token"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error shows a secret: %v", err)
		}
	}
	if !strings.Contains(err.Error(), "alice@example.org") || st.ID != "super-secret-id" || len(st.Orphans) != 1 {
		t.Fatalf("error %q, state %v: want alice named and the State untouched", err, st)
	}
	// The same account, written another way, is not foreign.
	_, err = session.Connect(context.Background(), session.Config{
		JID: "Alice@Example.ORG", Password: "pw", Addr: "127.0.0.1:1",
		Dial: func(context.Context, string, string) (net.Conn, error) {
			dialed = true
			return nil, errors.New("no network in this test")
		},
		LoginTimeout: time.Second,
	}, sampleState())
	if errors.Is(err, session.ErrConfig) || !dialed {
		t.Fatalf("Connect with alice's State as Alice@Example.ORG: err %v, dialed %t; want a dial", err, dialed)
	}
}

package driver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/session"
)

// Another account's state file is never used, nor overwritten: it holds that
// account's resumable stream and messages (issue 11, item 8).
func TestForeignStateFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	bob := &session.State{ID: "bob-stream", Orphans: []session.Stanza{{Kind: "message", ID: "m1", Raw: []byte("<message/>"), Message: &session.Message{ID: "m1", To: "carol@example.org", Body: "bob's"}}}}
	if err := bob.Save(path, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	_, err := driver.New(driver.Config{Session: session.Config{JID: "alice@example.org", Password: "pw"}, StateFile: path})
	if !errors.Is(err, session.ErrForeignStateFile) || !errors.Is(err, session.ErrConfig) {
		t.Fatalf("New = %v, want a configuration error about another account's file", err)
	}
	if !strings.Contains(err.Error(), "bob@example.org") || strings.Contains(err.Error(), "bob-stream") {
		t.Errorf("error %q: should name the owner, never the resumption id", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("bob's state file was changed")
	}
}

// This account's file that cannot be used is kept beside, not overwritten
// by the first save; what could be salvaged is used and a warning says
// where the file went.
func TestUnusableStateFileKeptAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte(`{"version":99,"account":"alice@example.org","ID":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var warned []string
	d, err := driver.New(driver.Config{Session: session.Config{JID: "alice@example.org", Password: "pw"}, StateFile: path,
		OnEvent: func(e driver.Event) {
			if w, ok := e.(driver.Warning); ok {
				warned = append(warned, w.String())
			}
		}})
	if err != nil || d == nil {
		t.Fatalf("New = %v", err)
	}
	kept, _ := filepath.Glob(path + ".unusable-*")
	if len(kept) != 1 {
		t.Fatalf("kept %v, want the old file beside", kept)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unusable file is still at %s", path)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "kept as "+kept[0]) {
		t.Errorf("warnings %q, want one naming %s", warned, kept[0])
	}
}

// Two processes never resume the same stream: the state file is locked from
// New until Run returns (flock, released by the kernel however the process
// ends). Two drivers in one process conflict the same way.
func TestStateFileLocked(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock on Windows")
	}
	path := filepath.Join(t.TempDir(), "state.json")
	cfg := driver.Config{Session: session.Config{JID: "alice@example.org", Password: "pw", Addr: "127.0.0.1:9"}, StateFile: path}
	first, err := driver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := driver.New(cfg); !errors.Is(err, driver.ErrStateFileInUse) {
		t.Fatalf("second New = %v, want ErrStateFileInUse", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = first.Run(ctx) // returns at once; releases the lock
	if _, err := driver.New(cfg); err != nil {
		t.Fatalf("New after the first driver ended = %v", err)
	}
}

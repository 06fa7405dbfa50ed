package prosody

import (
	"errors"
	"testing"
)

// A server whose port is taken must not mistake the other server for itself:
// Prosody logs the bind failure and keeps running.
func TestLaunchDetectsTakenPort(t *testing.T) {
	t.Setenv(EnvServer, "")
	a := StartT(t, Options{})
	b, err := newLocal(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	b.port = a.port
	b.mu.Lock()
	err = b.launch(t.Context())
	b.mu.Unlock()
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("launch on a taken port: %v, want errPortTaken; log:\n%s", err, b.LogTail(30))
	}
	t.Log(err)
	if b.PID() != 0 {
		t.Errorf("PID after failed launch: %d", b.PID())
	}
}

func TestDatamanagerEncode(t *testing.T) {
	for in, want := range map[string]string{
		"localhost":    "localhost",
		"example.test": "example%2etest",
		"user_1-a.b":   "user%5f1%2da%2eb",
	} {
		if got := datamanagerEncode(in); got != want {
			t.Errorf("datamanagerEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

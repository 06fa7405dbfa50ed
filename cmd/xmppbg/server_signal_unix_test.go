//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/internal/prosody"
)

// "xmppbg server" as a real process removes its password files and stops
// Prosody when it is killed by SIGTERM or SIGHUP (the terminal closed), not
// only on Ctrl-C.
func TestServerRemovesItsFilesOnSignal(t *testing.T) {
	integration.StartProsody(t, prosody.Options{}) // skips (or fails under CI) without prosody
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "server", "--json")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			lines := make(chan []byte, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				if sc.Scan() {
					lines <- append([]byte(nil), sc.Bytes()...)
				}
				for sc.Scan() {
				}
			}()
			var ev struct {
				PID      int                          `json:"pid"`
				Accounts map[string]map[string]string `json:"accounts"`
			}
			select {
			case line := <-lines:
				if err := json.Unmarshal(line, &ev); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the server did not start")
			}
			var files []string
			for _, a := range ev.Accounts {
				files = append(files, a["password_file"])
			}
			if len(files) != 2 {
				t.Fatalf("accounts %v", ev.Accounts)
			}
			dir := filepath.Dir(files[0])
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("exit: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the server did not stop")
			}
			for _, f := range append(files, dir) {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("%s left behind (%v)", f, err)
				}
			}
			if err := syscall.Kill(ev.PID, 0); err == nil {
				t.Errorf("prosody (pid %d) still running", ev.PID)
			}
		})
	}
}

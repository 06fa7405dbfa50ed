package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// result is what one run of xmppbg left behind.
type result struct {
	code           int
	stdout, stderr string
}

// invocation describes one in-process run of xmppbg.
type invocation struct {
	args   []string
	env    map[string]string
	stdin  io.Reader
	stdout *syncBuffer
	stderr *syncBuffer
}

// runXmppbg runs xmppbg in-process with the given environment (nothing from
// the real one) and returns its exit code and output.
func runXmppbg(ctx context.Context, env map[string]string, args ...string) result {
	inv := &invocation{args: args, env: env, stdout: new(syncBuffer), stderr: new(syncBuffer)}
	return inv.run(ctx)
}

func (inv *invocation) run(ctx context.Context) result {
	if inv.stdin == nil {
		inv.stdin = strings.NewReader("")
	}
	if inv.stdout == nil {
		inv.stdout = new(syncBuffer)
	}
	if inv.stderr == nil {
		inv.stderr = new(syncBuffer)
	}
	getenv := func(k string) string { return inv.env[k] }
	code := runContext(ctx, inv.args, &IOStreams{In: inv.stdin, Out: inv.stdout, ErrOut: inv.stderr}, getenv)
	return result{code: code, stdout: inv.stdout.String(), stderr: inv.stderr.String()}
}

// jsonLines parses stdout written with --json, failing the test on anything
// that is not a JSON object with "event" and "time" first.
func jsonLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, `{"event":"`) || !strings.Contains(line, `","time":"`) {
			t.Errorf("stdout line does not start with event and time: %s", line)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stdout line is not JSON: %q: %v", line, err)
		}
		ts, _ := ev["time"].(string)
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !strings.HasSuffix(ts, "Z") || len(ts) != len("2006-01-02T15:04:05.000Z") || tm.IsZero() {
			t.Errorf("bad time %q in %s", ts, line)
		}
		events = append(events, ev)
	}
	return events
}

// eventsNamed returns the events called name.
func eventsNamed(events []map[string]any, name string) []map[string]any {
	var out []map[string]any
	for _, ev := range events {
		if ev["event"] == name {
			out = append(out, ev)
		}
	}
	return out
}

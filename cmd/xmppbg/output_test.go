package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOutputJSON(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	o := newOutput(&stdout, &stderr, true)
	o.now = func() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600)) }
	o.Event("sent", "human text", F("id", "42"), F("to", "bob@example.org"), F("body", "a <b> & c"))
	o.Status("state", "status text", F("state", "online"))
	o.Warn("careful")
	o.Error("it broke", 5)

	want := `{"event":"sent","time":"2024-05-06T06:08:09.123Z","id":"42","to":"bob@example.org","body":"a <b> & c"}
{"event":"state","time":"2024-05-06T06:08:09.123Z","state":"online"}
{"event":"warning","time":"2024-05-06T06:08:09.123Z","message":"careful"}
{"event":"error","time":"2024-05-06T06:08:09.123Z","error":"it broke","code":5}
`
	if stdout.String() != want {
		t.Errorf("stdout =\n%s\nwant\n%s", stdout.String(), want)
	}
	if stderr.String() != "xmppbg: warning: careful\nxmppbg: it broke\n" {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestOutputHuman(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	o := newOutput(&stdout, &stderr, false)
	o.Event("sent", "", F("id", "1"))
	o.Event("acked", "sent to bob", F("id", "1"))
	o.Status("state", "online now")
	o.Status("state", "")
	o.Warn("careful")
	o.Error("it broke", 1)
	if stdout.String() != "sent to bob\n" {
		t.Errorf("stdout = %q", stdout.String())
	}
	if stderr.String() != "online now\nxmppbg: warning: careful\nxmppbg: it broke\n" {
		t.Errorf("stderr = %q", stderr.String())
	}
}

// TestOutputConcurrent checks that lines never interleave (run with -race).
func TestOutputConcurrent(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	o := newOutput(&stdout, &stderr, true)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				o.Event("message", "", F("n", i*100+j), F("body", strings.Repeat("x", 200)))
				o.Warn("w")
				_, _ = o.Stderr().Write([]byte("log line\n"))
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 8*50*2 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("interleaved line %q: %v", l, err)
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
		if l != "log line" && l != "xmppbg: warning: w" {
			t.Fatalf("interleaved stderr line %q", l)
		}
	}
}

func TestOutputUnencodable(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	o := newOutput(&stdout, &stderr, true)
	o.Event("x", "", F("bad", func() {}))
	var v map[string]any
	if err := json.Unmarshal([]byte(stdout.String()), &v); err != nil {
		t.Errorf("not JSON: %q", stdout.String())
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, line, body string }{
		{"hi\x1b[2Jthere\tt\u009b", "hi\uFFFD[2Jthere\tt\uFFFD", "hi\uFFFD[2Jthere\tt\uFFFD"},
		// A newline could forge a line of xmppbg's own.
		{"oops\nxmppbg: your password expired", "oops\uFFFDxmppbg: your password expired", "oops\n    xmppbg: your password expired"},
		{"a\r\nb", "a\uFFFD\uFFFDb", "a\n    b"},
		// Bidi overrides make text read in another order (Trojan Source).
		{"safe\u202egnp.exe\u2066x\u2069", "safe\uFFFDgnp.exe\uFFFDx\uFFFD", "safe\uFFFDgnp.exe\uFFFDx\uFFFD"},
		{"héllo wörld ✓", "héllo wörld ✓", "héllo wörld ✓"},
	} {
		if got := sanitize(tt.in); got != tt.line {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.line)
		}
		if got := sanitizeBody(tt.in); got != tt.body {
			t.Errorf("sanitizeBody(%q) = %q, want %q", tt.in, got, tt.body)
		}
	}
}

// The error that ends a command may quote the server: it reaches the
// terminal on one line, its controls neutralised.
func TestErrorOutputIsSanitized(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	o := newOutput(&stdout, &stderr, false)
	o.Error("authentication failed (not-authorized: \x1b[31mbad\nxmppbg: sent \u202eok)", exitAuth)
	o.Warn("server says\nxmppbg: all good")
	got := stderr.String()
	if strings.Count(got, "\n") != 2 || strings.ContainsAny(got, "\x1b\u202e") {
		t.Errorf("stderr = %q, want two lines without controls", got)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
)

// timeFormat is RFC 3339 with milliseconds; times are written in UTC.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// Field is one key of a JSON event. Fields are written in the order given,
// after "event" and "time"; a Field must not use those two keys.
type Field struct {
	Key   string
	Value any
}

// F returns a Field.
func F(key string, value any) Field { return Field{Key: key, Value: value} }

// output writes what a command reports, either as human text or as JSON
// lines. In JSON mode stdout carries nothing but JSON objects, one per line,
// each starting with "event" and "time"; in human mode results go to stdout
// and status lines to stderr. Warnings and errors always go to stderr as
// text, and in JSON mode also to stdout as events.
//
// Its methods are safe for concurrent use: each line is written whole, under
// one mutex shared with the writer returned by Stderr (used for logs).
type output struct {
	mu     sync.Mutex
	json   bool
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
}

// newOutput returns an output writing to stdout and stderr, in JSON mode if
// jsonMode is set.
func newOutput(stdout, stderr io.Writer, jsonMode bool) *output {
	return &output{json: jsonMode, stdout: stdout, stderr: stderr, now: time.Now}
}

// JSON reports whether the output is in JSON mode.
func (o *output) JSON() bool { return o.json }

// Event reports a result: in JSON mode as an event line on stdout, in human
// mode as text (when not empty) on stdout.
func (o *output) Event(name, text string, fields ...Field) {
	o.emit(name, text, o.stdout, fields)
}

// Status reports progress: in JSON mode as an event line on stdout, in human
// mode as text (when not empty) on stderr, so that stdout holds only results.
func (o *output) Status(name, text string, fields ...Field) {
	o.emit(name, text, o.stderr, fields)
}

// Warn reports a weaker guarantee than usual or a risky setting: as
// "xmppbg: warning: text" on stderr and, in JSON mode, also as a "warning"
// event with a "message" on stdout.
func (o *output) Warn(text string, fields ...Field) {
	line := "xmppbg: warning: " + sanitize(text) + "\n"
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = io.WriteString(o.stderr, line)
	if o.json {
		_, _ = o.stdout.Write(o.encode("warning", append([]Field{F("message", text)}, fields...)))
	}
}

// Error reports the error that ends the command: as "xmppbg: msg" on stderr
// and, in JSON mode, also as an "error" event with "error" and "code" (the
// exit code) on stdout.
func (o *output) Error(msg string, code int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	// The message may quote the server (a SASL or stream error text).
	_, _ = io.WriteString(o.stderr, "xmppbg: "+sanitize(msg)+"\n")
	if o.json {
		_, _ = o.stdout.Write(o.encode("error", []Field{F("error", msg), F("code", code)}))
	}
}

// Stderr returns a writer to stderr that takes the output's mutex for every
// write, so that logs and reports never interleave mid-line.
func (o *output) Stderr() io.Writer { return lockedWriter{o} }

type lockedWriter struct{ o *output }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	return w.o.stderr.Write(p)
}

func (o *output) emit(name, text string, human io.Writer, fields []Field) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		_, _ = o.stdout.Write(o.encode(name, fields))
		return
	}
	if text != "" {
		_, _ = io.WriteString(human, text+"\n")
	}
}

// encode builds one JSON line: {"event":name,"time":now,fields...}\n.
func (o *output) encode(name string, fields []Field) []byte {
	var b bytes.Buffer
	b.WriteString(`{"event":`)
	writeJSON(&b, name)
	b.WriteString(`,"time":`)
	writeJSON(&b, o.now().UTC().Format(timeFormat))
	for _, f := range fields {
		b.WriteByte(',')
		writeJSON(&b, f.Key)
		b.WriteByte(':')
		writeJSON(&b, f.Value)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// writeJSON appends v as compact JSON, without HTML escaping (message bodies
// keep their < and &). A value that cannot be encoded is written as its
// error text, so that a line is always valid JSON.
func writeJSON(b *bytes.Buffer, v any) {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		tmp.Reset()
		_ = enc.Encode("!" + err.Error())
	}
	b.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
}

// sanitize makes one line of text from the network (a JID, an id, a
// server's error text) safe to print on a terminal: control characters
// (escape sequences could rewrite the screen, a newline could forge a line
// of our own, "xmppbg: …") and the Unicode bidirectional controls (which can
// make text read in another order than it is) become U+FFFD; a tab stays.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || !unicode.IsControl(r) && !isBidiControl(r) {
			return r
		}
		return unicode.ReplacementChar
	}, s)
}

// sanitizeBody is sanitize for a message body, which may hold several
// lines: they are kept, each after the first indented, so that none can
// pass for a line of xmppbg's own.
func sanitizeBody(s string) string { return sanitizeLines(s, "\n    ") }

// sanitizeLines is sanitize for text of several lines, joined with sep.
func sanitizeLines(s, sep string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = sanitize(l)
	}
	return strings.Join(lines, sep)
}

// isBidiControl reports the explicit bidirectional formatting characters
// (Unicode's Bidi_Control property, as used in "Trojan Source" attacks).
func isBidiControl(r rune) bool {
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

package session

import (
	"context"
	"time"
)

// Test hooks. The in-memory tests speak to a scripted server without TLS.

// Plaintext makes cfg skip TLS, for in-memory tests only.
func Plaintext(cfg *Config) { cfg.plaintext = true }

// SetClock makes cfg use now as its clock.
func SetClock(cfg *Config, now func() time.Time) { cfg.now = now }

// Outstanding returns the number of <r/> sent and not answered.
func (s *Session) Outstanding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rOut
}

// OnNegotiated makes cfg call f once the stream is negotiated, before the
// session reads or writes anything else.
func OnNegotiated(cfg *Config, f func()) { cfg.negotiated = f }

// PauseAt makes cfg call f at the named points where a race once was.
func PauseAt(cfg *Config, f func(point string)) { cfg.pause = f }

// SendRaw sends raw as a stanza of kind, as SendMessage would send a
// message: tests send what the library itself never writes.
func (s *Session) SendRaw(ctx context.Context, kind, id, to, raw string) error {
	return s.sendRaw(ctx, kind, id, to, nil, func(string) []byte { return []byte(raw) })
}

// Delivered returns a channel closed once every event queued so far has
// been delivered to Config.OnEvent (events reach it on their own goroutine,
// so a successful Connect may return before its login's events do).
func Delivered(s *Session) <-chan struct{} { return s.notes.barrier() }

// DynamicTLSRecords makes cfg keep Go's dynamic TLS record sizing, which
// the session turns off.
func DynamicTLSRecords(cfg *Config) { cfg.dynamicRecords = true }

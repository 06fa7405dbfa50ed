package integration

import (
	"testing"
	"time"
)

func TestRecorder(t *testing.T) {
	var r Recorder[string]
	r.On("old")
	time.Sleep(time.Millisecond) // the events' times must differ
	t0 := time.Now()
	even := func(s string) bool { return len(s)%2 == 0 }
	if _, ev, ok := r.First(t0, 0, func(string) bool { return true }); ok {
		t.Fatalf("First found %q, delivered before t0", ev)
	}
	go func() {
		r.On("odd")
		r.On("even")
	}()
	at, ev, ok := r.First(t0, 10*time.Second, even)
	if !ok || ev != "even" || at.Before(t0) {
		t.Fatalf("First = %v, %q, %v; want the event delivered after t0 that matches", at, ev, ok)
	}
	if _, ev, ok := r.First(time.Time{}, 0, func(s string) bool { return s == "old" }); !ok || ev != "old" {
		t.Fatalf("First from the zero time = %q, %v; want the oldest event", ev, ok)
	}
	r.Trim(t0)
	if _, ev, ok := r.First(time.Time{}, 0, func(s string) bool { return s == "old" }); ok {
		t.Fatalf("First after Trim found %q", ev)
	}
	if _, ev, ok := r.First(time.Time{}, 0, even); !ok || ev != "even" {
		t.Fatalf("Trim dropped %q, delivered after t0", "even")
	}

	var quiet Recorder[int]
	select {
	case <-quiet.Arrived():
		t.Fatal("Arrived before any event")
	default:
	}
	quiet.On(1)
	select {
	case <-quiet.Arrived():
	default:
		t.Error("Arrived has no token after an event")
	}
}

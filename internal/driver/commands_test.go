package driver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/suspend"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want driver.Command
	}{
		{"hello there", driver.Command{Op: driver.OpSend, Text: "hello there"}},
		{"//not a command", driver.Command{Op: driver.OpSend, Text: "/not a command"}},
		{"   ", driver.Command{}},
		{"/to bob@example.org", driver.Command{Op: driver.OpTo, To: "bob@example.org"}},
		{"/msg bob@example.org  hi  you", driver.Command{Op: driver.OpSend, To: "bob@example.org", Text: "hi  you"}},
		{"/bg", driver.Command{Op: driver.OpBg}},
		{"/bg 20s", driver.Command{Op: driver.OpBg, Window: 20 * time.Second}},
		{"/tear blackhole", driver.Command{Op: driver.OpTear, Fault: suspend.FaultBlackhole}},
		{"/suspend", driver.Command{Op: driver.OpSuspend}},
		{"/resume", driver.Command{Op: driver.OpResume}},
		{"/quit\r\n", driver.Command{Op: driver.OpQuit}},
	} {
		got, err := driver.ParseCommand(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"/to", "/msg bob", "/bg soon", "/bg -1s", "/tear fire", "/suspend now", "/frobnicate"} {
		if _, err := driver.ParseCommand(bad); !errors.Is(err, driver.ErrUsage) {
			t.Errorf("ParseCommand(%q) = %v, want a usage error", bad, err)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"hi", "/msg a b", "/bg 1s", "/tear rst", "/to", "//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := driver.ParseCommand(in)
		if err != nil {
			return
		}
		if c.Op < driver.OpNone || c.Op > driver.OpQuit {
			t.Fatalf("ParseCommand(%q) gave unknown command %v", in, c.Op)
		}
		if c.Op == driver.OpBg && c.Window < 0 {
			t.Fatalf("negative window from %q", in)
		}
	})
}

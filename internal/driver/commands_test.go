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
		{"hello there", driver.Command{Name: "send", Text: "hello there"}},
		{"//not a command", driver.Command{Name: "send", Text: "/not a command"}},
		{"   ", driver.Command{}},
		{"/to bob@example.org", driver.Command{Name: "to", To: "bob@example.org"}},
		{"/msg bob@example.org  hi  you", driver.Command{Name: "send", To: "bob@example.org", Text: "hi  you"}},
		{"/bg", driver.Command{Name: "bg"}},
		{"/bg 20s", driver.Command{Name: "bg", Window: 20 * time.Second}},
		{"/tear blackhole", driver.Command{Name: "tear", Fault: suspend.FaultBlackhole}},
		{"/suspend", driver.Command{Name: "suspend"}},
		{"/resume", driver.Command{Name: "resume"}},
		{"/quit\r\n", driver.Command{Name: "quit"}},
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
		switch c.Name {
		case "", "send", "to", "bg", "suspend", "resume", "tear", "status", "help", "quit":
		default:
			t.Fatalf("ParseCommand(%q) gave unknown command %q", in, c.Name)
		}
		if c.Name == "bg" && c.Window < 0 {
			t.Fatalf("negative window from %q", in)
		}
	})
}

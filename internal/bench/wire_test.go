package bench_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/internal/bench"
)

// The round-trip counter: a write then a read with data is one round trip;
// several writes before a read, or several reads after a write, are still
// one; data that arrives without a write before it is none.
func TestWireMeterCounts(t *testing.T) {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	m := bench.NewWireMeter(c, time.Now())
	go func() {
		buf := make([]byte, 64)
		for _, step := range []string{"r:2", "w:ab", "r:1", "r:1", "w:c", "w:d", "w:e"} {
			switch step[0] {
			case 'r': // read that many client writes
				for range int(step[2] - '0') {
					if _, err := s.Read(buf); err != nil {
						return
					}
				}
			case 'w':
				if _, err := s.Write([]byte(step[2:])); err != nil {
					return
				}
			}
		}
	}()
	read := func() {
		t.Helper()
		buf := make([]byte, 1)
		if _, err := io.ReadFull(m, buf); err != nil {
			t.Fatal(err)
		}
	}
	m.Write([]byte("1")) // two writes, then the answer: one round trip
	m.Write([]byte("2"))
	read() // a
	read() // b: the same answer
	m.Write([]byte("3"))
	m.Write([]byte("4"))
	read() // c
	read() // d: no write since c: not a round trip
	read() // e
	if n := m.RoundTrips(); n != 2 {
		t.Errorf("round trips = %d, want 2", n)
	}
	turns := m.Turns()
	if len(turns) != 2 || turns[0].Out != 2 || turns[0].In != 2 || turns[1].Out != 2 || turns[1].In != 3 {
		t.Errorf("turns = %+v", turns)
	}
	if in, out := m.Bytes(); in != 5 || out != 4 {
		t.Errorf("bytes in %d out %d, want 5, 4", in, out)
	}
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	s := bench.Summarize(d)
	if s.N != 100 || s.Min != time.Millisecond || s.Max != 100*time.Millisecond ||
		s.Median != 50*time.Millisecond || s.P90 != 90*time.Millisecond || s.P99 != 99*time.Millisecond {
		t.Errorf("%+v", s)
	}
	if got := bench.Summarize(nil); got.N != 0 || got.Median != 0 {
		t.Errorf("empty: %+v", got)
	}
	if got := bench.MedianInt([]int{9, 7, 7, 8}); got != 7 {
		t.Errorf("MedianInt = %d", got)
	}
}

func TestPeakOverlap(t *testing.T) {
	ms := func(a, b int) bench.Interval {
		return bench.Interval{Start: time.Duration(a) * time.Millisecond, End: time.Duration(b) * time.Millisecond}
	}
	peak, at := bench.PeakOverlap([]bench.Interval{ms(0, 10), ms(5, 20), ms(10, 30), ms(15, 16), ms(30, 40)})
	if peak != 3 || at != 15*time.Millisecond {
		t.Errorf("peak %d at %v, want 3 at 15ms", peak, at)
	}
}

func TestHistogram(t *testing.T) {
	h := bench.Histogram([]time.Duration{120 * time.Millisecond, 150 * time.Millisecond, 330 * time.Millisecond}, 100*time.Millisecond, 10)
	want := "  100–  200 ms    2 ##########\n  200–  300 ms    0 \n  300–  400 ms    1 #####\n"
	if h != want {
		t.Errorf("got\n%s\nwant\n%s", h, want)
	}
	if !strings.Contains(bench.Histogram(nil, time.Second, 10), "no samples") {
		t.Error("empty histogram")
	}
}

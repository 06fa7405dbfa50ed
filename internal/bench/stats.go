package bench

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Summary describes a sample of durations.
type Summary struct {
	N                          int
	Min, Median, P90, P99, Max time.Duration
	Mean                       time.Duration
}

// Quantile returns the q-quantile (0 < q <= 1) of sorted by the nearest-rank
// method: the smallest sample with at least q of the samples at or below it.
// It returns 0 for an empty sample.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	k = max(0, min(k, len(sorted)-1))
	return sorted[k]
}

// Summarize sorts a copy of d and summarises it.
func Summarize(d []time.Duration) Summary {
	s := slices.Clone(d)
	slices.Sort(s)
	out := Summary{N: len(s)}
	if len(s) == 0 {
		return out
	}
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	out.Min, out.Max = s[0], s[len(s)-1]
	out.Median = Quantile(s, 0.5)
	out.P90 = Quantile(s, 0.9)
	out.P99 = Quantile(s, 0.99)
	out.Mean = sum / time.Duration(len(s))
	return out
}

// Ms formats d in milliseconds with a precision that suits its size.
func Ms(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f", ms)
	default:
		return fmt.Sprintf("%.2f", ms)
	}
}

// MedianInt returns the median (nearest rank) of v.
func MedianInt(v []int) int {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(math.Ceil(0.5*float64(len(s))))-1]
}

// Histogram renders samples in buckets of width w (from 0) as ASCII bars,
// one line per bucket from the first non-empty one to the last.
func Histogram(samples []time.Duration, w time.Duration, width int) string {
	if len(samples) == 0 || w <= 0 {
		return "(no samples)\n"
	}
	counts := map[int]int{}
	lo, hi, peak := math.MaxInt, 0, 0
	for _, s := range samples {
		k := int(s / w)
		counts[k]++
		lo, hi = min(lo, k), max(hi, k)
		peak = max(peak, counts[k])
	}
	var b strings.Builder
	for k := lo; k <= hi; k++ {
		n := counts[k]
		bar := 0
		if n > 0 {
			bar = max(1, n*width/peak)
		}
		fmt.Fprintf(&b, "%5d–%5d ms %4d %s\n", (time.Duration(k) * w).Milliseconds(), (time.Duration(k+1) * w).Milliseconds(), n, strings.Repeat("#", bar))
	}
	return b.String()
}

// Interval is a span of time, relative to some origin.
type Interval struct{ Start, End time.Duration }

// PeakOverlap returns the largest number of intervals open at one instant,
// and when it was first reached. An interval ending exactly when another
// starts does not overlap it.
func PeakOverlap(iv []Interval) (int, time.Duration) {
	type edge struct {
		at    time.Duration
		delta int
	}
	edges := make([]edge, 0, 2*len(iv))
	for _, i := range iv {
		edges = append(edges, edge{i.Start, +1}, edge{i.End, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.delta, b.delta) // ends before starts
	})
	cur, peak := 0, 0
	var at time.Duration
	for _, e := range edges {
		cur += e.delta
		if cur > peak {
			peak, at = cur, e.at
		}
	}
	return peak, at
}

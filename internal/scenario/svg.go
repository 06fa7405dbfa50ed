package scenario

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
)

// Layout of the SVG picture, in pixels.
const (
	svgWidth   = 1120
	svgLeft    = 150 // lane labels to the left
	svgRight   = 30
	svgHeight  = 430
	laneHeight = 22

	yLabels   = 70  // first row of statement labels (baseline)
	yApp      = 116 // alice's app lane (top)
	yRepair   = 157 // repair annotations (baseline)
	yConn     = 166 // alice's connection lane (top)
	yBob      = 272 // bob's connection lane (top)
	yChecks   = 316 // expectations (centre)
	yAxis     = 336 // time axis
	yLegend   = 376 // first legend row (centre)
	labelRows = 3
)

// Colours of the states and marks.
var stateFill = map[string]string{
	"active":       "#a5d6a7",
	"background":   "#ffe082",
	"suspended":    "#b0bec5",
	"connecting":   "#90caf9",
	"online":       "#66bb6a",
	"resuming":     "#fff176",
	"reconnecting": "#ffb74d",
	"offline":      "#ef9a9a",
}

const (
	colBobToAlice = "#1565c0"
	colAliceToBob = "#8e24aa"
	colFault      = "#d32f2f"
	colServer     = "#37474f"
	colResumed    = "#2e7d32"
	colFresh      = "#ef6c00"
	colKept       = "#00838f"
	colText       = "#263238"
	colGrid       = "#cfd8dc"
	colFreeze     = "#4527a0"
	colNoticed    = "#f9a825"
)

// WriteSVG draws the timeline as a self-contained SVG picture (no scripts,
// no external fonts or images): lanes for alice's app state (active,
// background, suspended), her connection state and bob's, arrows for the
// messages each way from when they were sent to when they arrived, and marks
// for the chat commands, faults, server actions, dead connections,
// repairs (resumed, fresh, kept) and expectations (met or failed).
func (r *Result) WriteSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	d := newDrawing(r)
	d.write(bw)
	return bw.Flush()
}

type drawing struct {
	r     *Result
	total time.Duration
	plotW float64
}

func newDrawing(r *Result) *drawing {
	total := r.Duration
	for _, e := range r.Entries {
		if e.At > total {
			total = e.At
		}
	}
	total += total / 40 // room for the last marks
	if total < time.Second {
		total = time.Second
	}
	return &drawing{r: r, total: total, plotW: svgWidth - svgLeft - svgRight}
}

// x maps a time to a horizontal position.
func (d *drawing) x(t time.Duration) float64 {
	if t < 0 {
		t = 0
	}
	return svgLeft + float64(t)/float64(d.total)*d.plotW
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (d *drawing) write(w *bufio.Writer) {
	r := d.r
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	fmt.Fprintf(w, "<title>%s</title>\n", esc("xmppbg scenario "+r.Name))
	w.WriteString(`<defs>
<marker id="ab" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="` + colBobToAlice + `"/></marker>
<marker id="aa" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="` + colAliceToBob + `"/></marker>
<marker id="ad" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="` + colFault + `"/></marker>
<pattern id="frozen" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#ffffff" opacity="0.35"/><line x1="0" y1="0" x2="0" y2="8" stroke="#455a64" stroke-width="2" opacity="0.45"/></pattern>
</defs>
`)
	fmt.Fprintf(w, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, svgHeight)

	// Title and verdict.
	verdict, vcol := "PASSED", colResumed
	if !r.Passed() {
		verdict, vcol = "FAILED", colFault
	}
	s := r.Summary
	fmt.Fprintf(w, `<text x="12" y="24" font-size="16" font-weight="bold" fill="%s">%s</text>`, colText, esc("Scenario "+r.Name))
	fmt.Fprintf(w, `<text x="%d" y="24" font-size="16" font-weight="bold" fill="%s" text-anchor="end">%s</text>`+"\n", svgWidth-svgRight, vcol,
		esc(fmt.Sprintf("%s  %d/%d expectations", verdict, s.Expectations-s.Failed, s.Expectations)))
	sub := fmt.Sprintf("alice→bob: %d sent, %d lost, %d duplicated   ·   bob→alice: %d sent, %d lost, %d duplicated   ·   repairs: %d resumed, %d fresh, %d kept   ·   %s",
		s.AliceToBob.Sent, s.AliceToBob.Lost, s.AliceToBob.Duplicated, s.BobToAlice.Sent, s.BobToAlice.Lost, s.BobToAlice.Duplicated,
		s.Resumed, s.Fresh, s.Kept, fmtDur(r.Duration))
	fmt.Fprintf(w, `<text x="12" y="44" fill="%s">%s</text>`+"\n", colText, esc(sub))

	d.grid(w)
	d.statements(w)
	d.lane(w, "alice app", yApp, d.states("alice", true), "active")
	d.lane(w, "alice connection", yConn, d.states("alice", false), "connecting")
	d.lane(w, "bob connection", yBob, d.states("bob", false), "connecting")
	fmt.Fprintf(w, `<text x="12" y="%d" fill="%s" font-style="italic">messages</text>`+"\n", (yConn+laneHeight+yBob)/2+4, colText)
	d.frozen(w)
	d.freezes(w)
	d.messages(w)
	d.faults(w)
	d.repairs(w)
	d.checks(w)
	d.legend(w)
	w.WriteString("</svg>\n")
}

// tickStep picks a round interval giving at most about 12 ticks.
func (d *drawing) tickStep() time.Duration {
	for _, s := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute} {
		if d.total/s <= 12 {
			return s
		}
	}
	return d.total / 10
}

func (d *drawing) grid(w *bufio.Writer) {
	step := d.tickStep()
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", svgLeft, yAxis, svgWidth-svgRight, yAxis, colText)
	for t := time.Duration(0); t <= d.total; t += step {
		x := d.x(t)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="0.6"/>`, x, yApp-6, x, yAxis, colGrid)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`, x, yAxis, x, yAxis+5, colText)
		label := strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", t.Seconds()), "0"), ".") + " s"
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>`+"\n", x, yAxis+18, colText, label)
	}
	fmt.Fprintf(w, `<text x="12" y="%d" fill="%s">time since start</text>`+"\n", yAxis+18, colText)
}

// change is a state change of a lane.
type change struct {
	at    time.Duration
	state string
}

// states returns the state changes of who's app (app) or connection.
func (d *drawing) states(who string, app bool) []change {
	var out []change
	for _, e := range d.r.Entries {
		if e.Who != who || e.Name != "state" {
			continue
		}
		if contains(appStates, e.State) != app {
			continue
		}
		if n := len(out); n > 0 && out[n-1].state == e.State {
			continue
		}
		out = append(out, change{e.At, e.State})
	}
	return out
}

func (d *drawing) lane(w *bufio.Writer, label string, y int, changes []change, initial string) {
	fmt.Fprintf(w, `<text x="12" y="%d" fill="%s" font-weight="bold">%s</text>`+"\n", y+15, colText, esc(label))
	fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#f5f5f5" stroke="%s" stroke-width="0.6"/>`+"\n", svgLeft, y, d.plotW, laneHeight, colGrid)
	if len(changes) == 0 || changes[0].at > 0 {
		changes = append([]change{{0, initial}}, changes...)
	}
	for i, c := range changes {
		end := d.total
		if i+1 < len(changes) {
			end = changes[i+1].at
		}
		x0, x1 := d.x(c.at), d.x(end)
		fill := stateFill[c.state]
		if fill == "" {
			fill = "#e0e0e0"
		}
		fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`,
			x0, y, math.Max(x1-x0, 0.8), laneHeight, fill, esc(fmt.Sprintf("%s from %s to %s", c.state, fmtAt(c.at), fmtAt(end))))
		if x1-x0 > float64(7*len(c.state)) {
			fmt.Fprintf(w, `<text x="%.1f" y="%d" fill="%s" font-size="10">%s</text>`, x0+4, y+15, colText, esc(c.state))
		}
		w.WriteByte('\n')
	}
}

// statements marks the chat commands and server actions above the lanes,
// with a dashed guide down through the lanes; labels are staggered over a
// few rows so that they do not overlap.
func (d *drawing) statements(w *bufio.Writer) {
	var rowEnd [labelRows]float64
	for i := range rowEnd {
		rowEnd[i] = -1e9
	}
	for _, e := range d.r.Entries {
		if e.Who != "script" || e.Name != "statement" || e.stmt == nil {
			continue
		}
		st := e.stmt
		col := colText
		switch {
		case st.kind == kChat && (st.cmd.Op == driver.OpBg || st.cmd.Op == driver.OpSuspend || st.cmd.Op == driver.OpResume):
		case st.kind == kChat && st.cmd.Op == driver.OpTear:
			col = colFault
		case st.kind == kServer:
			col = colServer
		case st.kind == kFreeze || st.kind == kThaw:
			col = colFreeze
		case st.kind == kNetwork:
			col = colFault
		default:
			continue
		}
		label := st.String()
		x := d.x(e.At)
		width := float64(len(label))*6.2 + 6
		row := 0
		for row < labelRows-1 && rowEnd[row] > x {
			row++
		}
		rowEnd[row] = x + width
		y := yLabels + row*14
		dash := "3,3"
		if st.kind == kServer || st.kind == kNetwork || st.cmd.Op == driver.OpTear {
			dash = "5,2"
		}
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1" stroke-dasharray="%s" opacity="0.7"/>`,
			x, y+3, x, yBob+laneHeight, col, dash)
		tx, anchor := x+3, "start"
		if x+width > svgWidth-4 {
			tx, anchor = x-3, "end"
		}
		fmt.Fprintf(w, `<text x="%.1f" y="%d" fill="%s" font-weight="bold" text-anchor="%s">%s<title>%s</title></text>`+"\n",
			tx, y, col, anchor, esc(label), esc(fmt.Sprintf("line %d at %s", e.Line, fmtAt(e.At))))
	}
}

// faults marks each /tear and network fault on alice's connection lane.
func (d *drawing) faults(w *bufio.Writer) {
	for _, e := range d.r.Entries {
		st := e.stmt
		if e.Name != "statement" || st == nil {
			continue
		}
		switch {
		case st.kind == kChat && st.cmd.Op == driver.OpTear:
			d.cross(w, d.x(e.At), yConn+laneHeight/2, colFault, fmtAt(e.At)+" fault: "+st.cmd.Fault.String())
		case st.kind == kNetwork:
			d.cross(w, d.x(e.At), yConn+laneHeight/2, colFault, fmtAt(e.At)+" network fault outside the app: "+st.action)
		}
	}
}

// freezes hatches both of alice's lanes while her app's process is stopped
// (from freeze to thaw): it runs no code, and what its lanes say is only
// what it last knew. The moment it reported that it noticed the suspension
// by itself is a yellow line across both lanes.
func (d *drawing) freezes(w *bufio.Writer) {
	var from time.Duration = -1
	band := func(end time.Duration) {
		x0, x1 := d.x(from), d.x(end)
		fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="url(#frozen)" stroke="%s" stroke-width="1.2"><title>%s</title></rect>`+"\n",
			x0, yApp, math.Max(x1-x0, 0.8), yConn+laneHeight-yApp, colFreeze,
			esc(fmt.Sprintf("frozen from %s to %s: the process is stopped (SIGSTOP) and runs no code", fmtAt(from), fmtAt(end))))
		if x1-x0 > 70 {
			fmt.Fprintf(w, `<text x="%.1f" y="%d" fill="%s" font-size="10" font-weight="bold">frozen (SIGSTOP)</text>`+"\n", x0+4, yApp+15, colFreeze)
		}
	}
	for _, e := range d.r.Entries {
		if e.Who != "alice" {
			continue
		}
		switch e.Name {
		case "freeze":
			from = e.At
		case "thaw":
			if from >= 0 {
				band(e.At)
				from = -1
			}
		case "woke":
			x := d.x(e.At)
			fmt.Fprintf(w, `<g><title>%s</title><line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2.5"/><circle cx="%.1f" cy="%d" r="4.5" fill="%s" stroke="%s" stroke-width="1"/></g>`+"\n",
				esc(fmtAt(e.At)+" "+e.Text), x, yApp, x, yConn+laneHeight, colNoticed, x, yApp-5, colNoticed, colText)
		}
	}
	if from >= 0 {
		band(d.total)
	}
}

// frozen hatches alice's connection lane while her app is suspended: her
// connection state then only says what the client last knew.
func (d *drawing) frozen(w *bufio.Writer) {
	changes := d.states("alice", true)
	for i, c := range changes {
		if c.state != "suspended" {
			continue
		}
		end := d.total
		if i+1 < len(changes) {
			end = changes[i+1].at
		}
		x0, x1 := d.x(c.at), d.x(end)
		fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="url(#frozen)"><title>%s</title></rect>`+"\n",
			x0, yConn, math.Max(x1-x0, 0.8), laneHeight, esc(fmt.Sprintf("frozen from %s to %s: the app is suspended and runs no code", fmtAt(c.at), fmtAt(end))))
	}
}

// cross draws an X mark.
func (d *drawing) cross(w *bufio.Writer, x float64, y int, col, title string) {
	fmt.Fprintf(w, `<g stroke="%s" stroke-width="2.5" stroke-linecap="round"><title>%s</title><line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/><line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/></g>`+"\n",
		col, esc(title), x-5, y-5, x+5, y+5, x-5, y+5, x+5, y-5)
}

// messages draws an arrow per message between alice and bob, from the
// sender's lane when it was sent to the receiver's lane when it arrived.
// A message never received is a hollow red circle at the sender's lane.
func (d *drawing) messages(w *bufio.Writer) {
	type sent struct {
		at   time.Duration
		who  string
		body string
	}
	sends := map[string]sent{}
	var order []string
	for _, e := range d.r.Entries {
		if m, ok := e.message(); ok && e.Name == "sent" && e.ledger {
			k := key(m)
			if _, ok := sends[k]; !ok {
				sends[k] = sent{e.At, e.Who, m.Body}
				order = append(order, k)
			}
		}
	}
	got := map[string]int{}
	top, bottom := yConn+laneHeight, yBob
	for _, e := range d.r.Entries {
		m, ok := e.message()
		if e.Name != "message" || !e.ledger || !ok {
			continue
		}
		k := key(m)
		got[k]++
		s, ok := sends[k]
		if !ok {
			continue
		}
		x0, x1 := d.x(s.at), d.x(e.At)
		y0, y1, col, mk := bottom, top, colBobToAlice, "ab"
		if s.who == "alice" {
			y0, y1, col, mk = top, bottom, colAliceToBob, "aa"
		}
		if got[k] > 1 {
			col, mk = colFault, "ad"
		}
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.2" opacity="0.8" marker-end="url(#%s)"><title>%s</title></line>`,
			x0, y0, x1, y1, col, mk, esc(fmt.Sprintf("%q: sent by %s at %s, received at %s", s.body, s.who, fmtAt(s.at), fmtAt(e.At))))
		fmt.Fprintf(w, `<circle cx="%.1f" cy="%d" r="2.2" fill="%s"/>`+"\n", x0, y0, col)
	}
	for _, k := range order {
		if got[k] > 0 {
			continue
		}
		s := sends[k]
		y := bottom
		if s.who == "alice" {
			y = top
		}
		fmt.Fprintf(w, `<circle cx="%.1f" cy="%d" r="4" fill="none" stroke="%s" stroke-width="2"><title>%s</title></circle>`+"\n",
			d.x(s.at), y, colFault, esc(fmt.Sprintf("%q sent by %s at %s: never received", s.body, s.who, fmtAt(s.at))))
	}
}

// repairs marks alice's dead connections and repairs on her connection lane,
// with how long each took above it.
func (d *drawing) repairs(w *bufio.Writer) {
	yMid := yConn + laneHeight/2
	var lastEnd float64 = -1e9
	label := func(x float64, text, col string) {
		width := float64(len(text))*6 + 8
		anchor := "start"
		if x+width > svgWidth-4 {
			x, anchor = svgWidth-4, "end"
			if x-width < lastEnd {
				return
			}
		} else if x < lastEnd {
			return // crowded: the tooltip and the text timeline have it
		}
		fmt.Fprintf(w, `<text x="%.1f" y="%d" fill="%s" font-size="10" font-weight="bold" text-anchor="%s">%s</text>`+"\n", x, yRepair, col, anchor, esc(text))
		lastEnd = x + width
	}
	for _, e := range d.r.Entries {
		if e.Who != "alice" || e.Event == nil {
			continue
		}
		x := d.x(e.At)
		switch e.Name {
		case "dead":
			fmt.Fprintf(w, `<path d="M%.1f,%d l-5,-8 h10 z" fill="%s"><title>%s</title></path>`+"\n", x, yConn-1, colFault, esc(fmtAt(e.At)+" "+e.Text))
		}
	}
	for _, rep := range d.r.Summary.Repairs {
		if !rep.Done {
			continue
		}
		end := rep.Start + rep.Took
		x0, x := d.x(rep.Start), d.x(end)
		col, text := colResumed, "resumed"
		switch rep.Outcome {
		case "fresh":
			col, text = colFresh, "fresh session"
		case "kept":
			col, text = colKept, "kept"
		}
		text += " " + fmtDur(rep.Took)
		if rep.Dead > 0 {
			text = fmt.Sprintf("dead +%s, %s", fmtDur(rep.Dead), text)
		}
		// A bracket from the start of the repair to its end.
		fmt.Fprintf(w, `<path d="M%.1f,%d v-5 H%.1f v5" fill="none" stroke="%s" stroke-width="1.5"/>`, x0, yConn-2, math.Max(x, x0+2), col)
		fmt.Fprintf(w, `<path d="M%.1f,%d l6,6 l-6,6 l-6,-6 z" fill="%s" stroke="#ffffff" stroke-width="1"><title>%s</title></path>`+"\n",
			x, yMid-6, col, esc(rep.String()))
		label(x0, text, col)
	}
}

// checks marks each expectation: a green tick or a red cross.
func (d *drawing) checks(w *bufio.Writer) {
	fmt.Fprintf(w, `<text x="12" y="%d" fill="%s" font-weight="bold">expectations</text>`+"\n", yChecks+4, colText)
	for _, e := range d.r.Entries {
		if e.Name != "expect" {
			continue
		}
		x := d.x(e.At)
		if e.OK {
			fmt.Fprintf(w, `<path d="M%.1f,%d l3,4 l6,-9" fill="none" stroke="%s" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"><title>%s</title></path>`+"\n",
				x-4, yChecks, colResumed, esc(fmtAt(e.At)+" :"+fmt.Sprint(e.Line)+" "+e.Text))
		} else {
			d.cross(w, x, yChecks, colFault, fmtAt(e.At)+" :"+fmt.Sprint(e.Line)+" "+e.Text)
		}
	}
}

func (d *drawing) legend(w *bufio.Writer) {
	x := float64(svgLeft)
	y := yLegend
	swatch := func(fill, label string) {
		fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="14" height="10" fill="%s"/><text x="%.1f" y="%d" fill="%s" font-size="10">%s</text>`,
			x, y-5, fill, x+18, y+4, colText, esc(label))
		x += 18 + float64(len(label))*6 + 14
	}
	fmt.Fprintf(w, `<text x="12" y="%d" fill="%s" font-weight="bold">states</text>`, y+4, colText)
	for _, s := range append(append([]string(nil), appStates...), connStates...) {
		swatch(stateFill[s], s)
	}
	w.WriteByte('\n')
	x, y = svgLeft, yLegend+22
	mark := func(svg, label string) {
		w.WriteString(svg)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" fill="%s" font-size="10">%s</text>`, x+20, y+4, colText, esc(label))
		x += 20 + float64(len(label))*6 + 14
	}
	fmt.Fprintf(w, `<text x="12" y="%d" fill="%s" font-weight="bold">marks</text>`, y+4, colText)
	mark(fmt.Sprintf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.5" marker-end="url(#ab)"/>`, x, y, x+14, y, colBobToAlice), "bob → alice")
	mark(fmt.Sprintf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.5" marker-end="url(#aa)"/>`, x, y, x+14, y, colAliceToBob), "alice → bob")
	mark(fmt.Sprintf(`<circle cx="%.1f" cy="%d" r="4" fill="none" stroke="%s" stroke-width="2"/>`, x+6, y, colFault), "lost")
	mark(fmt.Sprintf(`<g stroke="%s" stroke-width="2.5" stroke-linecap="round"><line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/><line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/></g>`,
		colFault, x+1, y-5, x+11, y+5, x+1, y+5, x+11, y-5), "fault / failed")
	mark(fmt.Sprintf(`<path d="M%.1f,%d l-5,-8 h10 z" fill="%s"/>`, x+6, y+4, colFault), "dead")
	mark(fmt.Sprintf(`<path d="M%.1f,%d l6,6 l-6,6 l-6,-6 z" fill="%s"/>`, x+6, y-6, colResumed), "resumed")
	mark(fmt.Sprintf(`<path d="M%.1f,%d l6,6 l-6,6 l-6,-6 z" fill="%s"/>`, x+6, y-6, colFresh), "fresh")
	mark(fmt.Sprintf(`<path d="M%.1f,%d l6,6 l-6,6 l-6,-6 z" fill="%s"/>`, x+6, y-6, colKept), "kept")
	mark(fmt.Sprintf(`<path d="M%.1f,%d l3,4 l6,-9" fill="none" stroke="%s" stroke-width="2.2" stroke-linecap="round"/>`, x+2, y+1, colResumed), "met")
	mark(fmt.Sprintf(`<rect x="%.1f" y="%d" width="14" height="10" fill="%s"/><rect x="%.1f" y="%d" width="14" height="10" fill="url(#frozen)"/>`, x, y-5, stateFill["online"], x, y-5), "frozen (suspended)")
	if d.hasAlice("freeze") || d.hasAlice("woke") {
		mark(fmt.Sprintf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2.5"/>`, x+6, y-6, x+6, y+6, colNoticed), "noticed")
	}
	w.WriteByte('\n')
}

// hasAlice reports whether alice has an entry called name.
func (d *drawing) hasAlice(name string) bool {
	for _, e := range d.r.Entries {
		if e.Who == "alice" && e.Name == name {
			return true
		}
	}
	return false
}

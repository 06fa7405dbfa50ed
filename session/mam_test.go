package session_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/xmppbg/xmppbg/session"
)

// mamResult is an archive result (XEP-0313) for queryid from from ("" for
// our own account, as servers send it): a chat message from bob with body
// and origin-id origin, archived under id.
func mamResult(from, queryid, id, body, origin string) string {
	return `<message from='` + from + `'><result xmlns='urn:xmpp:mam:2' queryid='` + queryid + `' id='` + id + `'>` +
		`<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-11-25T10:00:00Z'/>` +
		`<message xmlns='jabber:client' from='bob@example.org/x' to='alice@example.org' type='chat' id='` + origin + `'><body>` + body + `</body>` +
		`<origin-id xmlns='urn:xmpp:sid:0' id='` + origin + `'/></message></forwarded></result></message>`
}

// mamFin answers the archive query q; last is the RSM <last/> of the page.
func mamFin(q elem, complete bool, last string) string {
	return fmt.Sprintf(`<iq type='result' id='%s'><fin xmlns='urn:xmpp:mam:2' complete='%t'><set xmlns='http://jabber.org/protocol/rsm'><last>%s</last></set></fin></iq>`,
		q.attr("id"), complete, last)
}

// archiveQuery waits for the catch-up's next archive query and checks
// that it asks for what came after `after`; it returns the query and its
// queryid.
func archiveQuery(t *testing.T, f *fake, after string) (elem, string) {
	t.Helper()
	q := f.expectSkippingR("iq")
	query, ok := q.child("query")
	if !ok || query.XMLName.Space != "urn:xmpp:mam:2" {
		t.Fatalf("got %s, want an archive query", q)
	}
	set, _ := query.child("set")
	if a, _ := set.child("after"); a.Text != after {
		t.Fatalf("archive query %s asks after %q, want after %q", q, a.Text, after)
	}
	return q, query.attr("queryid")
}

func receivedBodies(events []session.Event) []string {
	var out []string
	for _, e := range events {
		if r, ok := e.(session.Received); ok {
			out = append(out, r.Message.Body)
		}
	}
	return out
}

// A live message that arrives during an archive catch-up carries an archive
// id later than those of the archived messages the catch-up has not fetched
// yet. When the catch-up does not finish (here the connection ends between
// two pages), the next one must still start after the last archived message
// handled: starting after the live one would skip, for good, what the
// archive holds in between (with Prosody, once the archive was queried,
// expired messages are kept there only).
func TestArchiveCatchUpInterrupted(t *testing.T) {
	f := &fake{t: t, elems: make(chan elem, 1024), mam: true}
	st := &session.State{ID: "gone", LastAlive: time.Now(), LastArchiveID: "arch-1"}
	c := &collector{}
	errc := make(chan error, 1)
	go func() {
		s, err := session.Connect(context.Background(), testConfig(f, c.on), st)
		if err == nil {
			s.Abort()
		}
		errc <- err
	}()
	f.expectSkippingR("presence")
	q, qid := archiveQuery(t, f, "arch-1")
	f.send(mamResult("", qid, "arch-2", "archived", "o2"))
	// Live, while the archive still holds arch-3 … arch-8 for us.
	f.send(`<message from='bob@example.org/x' to='alice@example.org/res1' type='chat' id='o9'><body>live</body>` +
		`<origin-id xmlns='urn:xmpp:sid:0' id='o9'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='arch-9'/></message>`)
	f.send(mamFin(q, false, "arch-2"))
	archiveQuery(t, f, "arch-2") // the next page: never answered
	f.conn.Close()
	if err := <-errc; err == nil {
		t.Fatal("Connect succeeded, though the connection ended during the catch-up")
	}
	// Connect has returned: its events were delivered and st is final.
	if got := receivedBodies(c.all()); fmt.Sprint(got) != "[archived live]" {
		t.Fatalf("delivered %q, want [archived live]", got)
	}
	if st.LastArchiveID != "arch-2" || !st.ArchiveBehind {
		t.Fatalf("after the interrupted catch-up: LastArchiveID %q, ArchiveBehind %v; want arch-2, true", st.LastArchiveID, st.ArchiveBehind)
	}

	// The next login fetches what the first left in the archive; the live
	// message, archived too, is not delivered again.
	f2 := &fake{t: t, elems: make(chan elem, 1024), mam: true}
	c2 := &collector{}
	done := connectAsync(t, testConfig(f2, c2.on), st)
	f2.expectSkippingR("presence")
	q, qid = archiveQuery(t, f2, "arch-2")
	f2.send(mamResult("", qid, "arch-3", "gap", "o3"))
	f2.send(mamResult("", qid, "arch-9", "live", "o9"))
	f2.send(mamFin(q, true, "arch-9"))
	s := awaitSession(t, done)
	defer s.Abort()
	delivered(t, s)
	if got := receivedBodies(c2.all()); fmt.Sprint(got) != "[gap]" {
		t.Fatalf("second login delivered %q, want [gap]", got)
	}
	if st := s.State(); st.LastArchiveID != "arch-9" || st.ArchiveBehind {
		t.Errorf("after the finished catch-up: LastArchiveID %q, ArchiveBehind %v; want arch-9, false", st.LastArchiveID, st.ArchiveBehind)
	}
}

// An archive that refuses the first query has nothing to catch up from:
// live messages move LastArchiveID again. One that refuses a later page
// still holds the rest: LastArchiveID stays at the last result handled,
// whatever arrives live afterwards, until a catch-up finishes.
func TestArchiveCatchUpRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		firstPage  bool
		wantLast   string
		wantBehind bool
	}{
		{"first page", true, "arch-9", false},
		{"later page", false, "arch-2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{t: t, elems: make(chan elem, 1024), mam: true}
			st := &session.State{ID: "gone", LastAlive: time.Now(), LastArchiveID: "arch-1"}
			c := &collector{}
			done := connectAsync(t, testConfig(f, c.on), st)
			f.expectSkippingR("presence")
			q, qid := archiveQuery(t, f, "arch-1")
			if !tc.firstPage {
				f.send(mamResult("", qid, "arch-2", "archived", "o2"))
				f.send(mamFin(q, false, "arch-2"))
				q, _ = archiveQuery(t, f, "arch-2")
			}
			f.send(`<iq type='error' id='` + q.attr("id") + `'><error type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
			s := awaitSession(t, done)
			defer s.Abort()
			f.send(`<message from='bob@example.org/x' to='alice@example.org/res1' type='chat' id='o9'><body>live</body>` +
				`<origin-id xmlns='urn:xmpp:sid:0' id='o9'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='arch-9'/></message>`)
			// Answered once every stanza before it is handled (and its
			// archive id recorded).
			f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
			for e := f.next(); e.XMLName.Local != "a"; e = f.next() {
			}
			if got := receivedBodies(c.all()); len(got) == 0 || got[len(got)-1] != "live" {
				t.Fatalf("delivered %q, want the live message last", got)
			}
			if st := s.State(); st.LastArchiveID != tc.wantLast || st.ArchiveBehind != tc.wantBehind {
				t.Errorf("LastArchiveID %q, ArchiveBehind %v; want %q, %v", st.LastArchiveID, st.ArchiveBehind, tc.wantLast, tc.wantBehind)
			}
		})
	}
}

// A finished catch-up clears ArchiveBehind only once the application has
// handled its results: a copy saved with the archive "caught up" but the
// results still queued for OnEvent would, after a kill, resume (so no
// catch-up) and the server's resent results, answers to a query of the dead
// process, are dropped: the messages were lost.
func TestArchiveCaughtUpOnlyOnceHandled(t *testing.T) {
	f := &fake{t: t, elems: make(chan elem, 1024), mam: true}
	st := &session.State{ID: "gone", LastAlive: time.Now(), LastArchiveID: "arch-1"}
	c := &collector{}
	release := make(chan struct{})
	cfg := testConfig(f, func(e session.Event) {
		if r, ok := e.(session.Received); ok && r.Message.Body == "archived" {
			<-release // a slow application
		}
		c.on(e)
	})
	var (
		mu     sync.Mutex
		copies []session.State
	)
	cfg.Persist = func(st *session.State) {
		mu.Lock()
		copies = append(copies, session.State{LastArchiveID: st.LastArchiveID, ArchiveBehind: st.ArchiveBehind})
		mu.Unlock()
	}
	done := connectAsync(t, cfg, st)
	f.expectSkippingR("presence")
	q, qid := archiveQuery(t, f, "arch-1")
	f.send(mamResult("", qid, "arch-2", "archived", "o2"))
	f.send(mamFin(q, true, "arch-2"))
	s := <-done
	if s == nil {
		close(release)
		t.FailNow()
	}
	defer s.Abort()
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free() // before Abort, which waits for OnEvent
	check := func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		started := false
		for _, cp := range copies {
			started = started || cp.ArchiveBehind
			if started && !cp.ArchiveBehind && cp.LastArchiveID != "arch-2" {
				t.Fatalf("a copy was saved caught up (ArchiveBehind false) with LastArchiveID %q, before arch-2 was handled", cp.LastArchiveID)
			}
		}
	}
	check()
	free()
	delivered(t, s)
	check()
	if st := s.State(); st.LastArchiveID != "arch-2" || st.ArchiveBehind {
		t.Errorf("once handled: LastArchiveID %q, ArchiveBehind %v; want arch-2, false", st.LastArchiveID, st.ArchiveBehind)
	}
}

// startField returns the "start" field of the archive query q, "" if none.
func startField(q elem) string {
	query, _ := q.child("query")
	x, _ := query.child("x")
	for _, f := range x.Nodes {
		if f.attr("var") == "start" {
			v, _ := f.child("value")
			return v.Text
		}
	}
	return ""
}

// A first catch-up (no archive id handled yet, so it asks for what came
// after a time) that ends before any result must start from the same time
// the next login: the session's own login moved LastAlive, so the start
// the next login would compute from it is later, and the archive's messages
// in between were skipped for good. The start is saved (State.ArchiveStart)
// before the query goes out, so a process killed during the catch-up finds
// it in its file too.
func TestArchiveFirstCatchUpInterrupted(t *testing.T) {
	lastAlive := time.Now().Add(-2 * time.Hour)
	wantStart := lastAlive.Add(-time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")
	f := &fake{t: t, elems: make(chan elem, 1024), mam: true}
	st := &session.State{ID: "gone", LastAlive: lastAlive}
	var (
		mu   sync.Mutex
		last *session.State
	)
	cfg := testConfig(f, (&collector{}).on)
	cfg.Persist = func(st *session.State) {
		mu.Lock()
		last = st
		mu.Unlock()
	}
	errc := make(chan error, 1)
	go func() {
		s, err := session.Connect(context.Background(), cfg, st)
		if err == nil {
			s.Abort()
		}
		errc <- err
	}()
	f.expectSkippingR("presence")
	q, _ := archiveQuery(t, f, "")
	if got := startField(q); got != wantStart {
		t.Fatalf("first catch-up starts at %q, want %q", got, wantStart)
	}
	// The process is killed here: what the next one loads is the last copy.
	mu.Lock()
	saved := last.Clone()
	mu.Unlock()
	f.conn.Close()
	if err := <-errc; err == nil {
		t.Fatal("Connect succeeded, though the connection ended during the catch-up")
	}
	if !saved.ArchiveBehind {
		t.Fatal("the copy saved when the query went out does not say the archive is behind")
	}

	for _, tc := range []struct {
		name string
		st   *session.State
	}{{"state in memory", st}, {"state saved before the query", saved}} {
		t.Run(tc.name, func(t *testing.T) {
			f2 := &fake{t: t, elems: make(chan elem, 1024), mam: true}
			c2 := &collector{}
			done := connectAsync(t, testConfig(f2, c2.on), tc.st)
			f2.expectSkippingR("presence")
			q, qid := archiveQuery(t, f2, "")
			if got := startField(q); got != wantStart {
				t.Errorf("the catch-up after the interrupted one starts at %q, want %q (where the first started)", got, wantStart)
			}
			f2.send(mamResult("", qid, "arch-1", "gap", "o1"))
			f2.send(mamFin(q, true, "arch-1"))
			s := awaitSession(t, done)
			defer s.Abort()
			delivered(t, s)
			if got := receivedBodies(c2.all()); fmt.Sprint(got) != "[gap]" {
				t.Fatalf("delivered %q, want [gap]", got)
			}
			if st := s.State(); st.LastArchiveID != "arch-1" || st.ArchiveBehind || !st.ArchiveStart.IsZero() {
				t.Errorf("after the catch-up: LastArchiveID %q, ArchiveBehind %v, ArchiveStart %v; want arch-1, false, zero",
					st.LastArchiveID, st.ArchiveBehind, st.ArchiveStart)
			}
		})
	}
}

// archiveItem is a chat message from bob as an archive holds it.
type archiveItem struct{ id, body, origin string }

// serveArchive answers the catch-up's queries as an archive holding items
// (in archive order) after the id from would: pages of up to 100 after the
// id each query names, until it has sent the last page. It returns the id
// each query asked to start after.
func serveArchive(t *testing.T, f *fake, from string, items []archiveItem) []string {
	t.Helper()
	var afters []string
	for {
		q := f.expectSkippingR("iq")
		query, ok := q.child("query")
		if !ok || query.XMLName.Space != "urn:xmpp:mam:2" {
			t.Fatalf("got %s, want an archive query", q)
		}
		set, _ := query.child("set")
		after, _ := set.child("after")
		afters = append(afters, after.Text)
		p := -1
		if after.Text == from {
			p = 0
		}
		for i, it := range items {
			if it.id == after.Text {
				p = i + 1
			}
		}
		if p < 0 {
			t.Fatalf("archive query after %q, which the archive does not hold", after.Text)
		}
		end := min(p+100, len(items))
		last := ""
		for _, it := range items[p:end] {
			f.send(mamResult("", query.attr("queryid"), it.id, it.body, it.origin))
			last = it.id
		}
		f.send(mamFin(q, end == len(items), last))
		if end == len(items) {
			return afters
		}
	}
}

// liveMessage is a chat message from bob as the server routes it live, with
// the archive id it was stored under.
func liveMessage(it archiveItem) string {
	return `<message from='bob@example.org/x' to='alice@example.org/res1' type='chat' id='` + it.origin + `'><body>` + it.body + `</body>` +
		`<origin-id xmlns='urn:xmpp:sid:0' id='` + it.origin + `'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='` + it.id + `'/></message>`
}

// Live messages that arrive while a catch-up is unfinished (it stopped at a
// refused page; the session goes on) are archived too, after the messages
// the catch-up has not fetched: the next catch-up meets them again. State.Seen
// remembers only the last SeenCap messages, so with more live ones than that
// the oldest came back as Received a second time. The catch-up now skips
// what it knows was delivered live.
func TestArchiveLiveDuringUnfinishedCatchUpOnce(t *testing.T) {
	const nLive = session.SeenCap + 76
	live := make([]archiveItem, nLive)
	for i := range live {
		live[i] = archiveItem{fmt.Sprintf("live-%d", i), fmt.Sprintf("live %d", i), fmt.Sprintf("lo-%d", i)}
	}

	f := &fake{t: t, elems: make(chan elem, 1024), mam: true}
	st := &session.State{ID: "gone", LastAlive: time.Now(), LastArchiveID: "arch-1"}
	c := &collector{}
	done := connectAsync(t, testConfig(f, c.on), st)
	f.expectSkippingR("presence")
	q, qid := archiveQuery(t, f, "arch-1")
	f.send(mamResult("", qid, "arch-2", "archived", "o2"))
	f.send(mamFin(q, false, "arch-2"))
	q, _ = archiveQuery(t, f, "arch-2")
	f.send(`<iq type='error' id='` + q.attr("id") + `'><error type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	s := awaitSession(t, done)
	for _, it := range live {
		f.send(liveMessage(it))
	}
	f.send(`<r xmlns='urn:xmpp:sm:3'/>`) // answered once all of them are handled
	for e := f.next(); e.XMLName.Local != "a"; e = f.next() {
	}
	s.Abort()
	if got := len(receivedBodies(c.all())); got != 1+nLive {
		t.Fatalf("first session delivered %d messages, want %d", got, 1+nLive)
	}
	if !st.ArchiveBehind || st.LastArchiveID != "arch-2" {
		t.Fatalf("after the unfinished catch-up: ArchiveBehind %v, LastArchiveID %q; want true, arch-2", st.ArchiveBehind, st.LastArchiveID)
	}
	if want := []session.ArchiveSpan{{First: "live-0", Last: live[nLive-1].id}}; fmt.Sprint(st.ArchiveLive) != fmt.Sprint(want) {
		t.Fatalf("ArchiveLive %v, want %v", st.ArchiveLive, want)
	}

	// The next login: the archive holds what the first catch-up did not
	// fetch, the live messages, and one that came while alice was away.
	archive := append(append([]archiveItem{{"arch-3", "gap", "o3"}}, live...), archiveItem{"arch-4", "away", "o4"})
	f2 := &fake{t: t, elems: make(chan elem, 1024), mam: true}
	c2 := &collector{}
	done = connectAsync(t, testConfig(f2, c2.on), st)
	f2.expectSkippingR("presence")
	afters := serveArchive(t, f2, "arch-2", archive)
	s = awaitSession(t, done)
	defer s.Abort()
	delivered(t, s)
	if got := receivedBodies(c2.all()); fmt.Sprint(got) != "[gap away]" {
		if len(got) > 6 {
			got = append(got[:5], fmt.Sprintf("… %d in all", len(got)))
		}
		t.Fatalf("second login delivered %q, want [gap away]", got)
	}
	t.Logf("archive queries after %q", afters)
	if st := s.State(); st.LastArchiveID != "arch-4" || st.ArchiveBehind || len(st.ArchiveLive) != 0 {
		t.Errorf("after the catch-up: LastArchiveID %q, ArchiveBehind %v, ArchiveLive %v; want arch-4, false, none",
			st.LastArchiveID, st.ArchiveBehind, st.ArchiveLive)
	}
}

// What lies between two spans of live messages (State.ArchiveLive) is
// fetched: here two logins in a row leave the catch-up unfinished, each
// with live messages, and what came while alice was away between them, or
// before, is delivered while both spans are skipped, within one page.
func TestArchiveLiveSpansKeepTheGaps(t *testing.T) {
	item := func(id string) archiveItem { return archiveItem{id, "body " + id, "o-" + id} }
	st := &session.State{ID: "gone", LastAlive: time.Now(), LastArchiveID: "arch-1"}
	// login runs a session whose catch-up after `after` gets results
	// first, then a refused page, and then the live messages.
	login := func(after string, first []archiveItem, live []archiveItem) {
		t.Helper()
		f := &fake{t: t, elems: make(chan elem, 1024), mam: true}
		done := connectAsync(t, testConfig(f, (&collector{}).on), st)
		f.expectSkippingR("presence")
		q, qid := archiveQuery(t, f, after)
		for _, it := range first {
			f.send(mamResult("", qid, it.id, it.body, it.origin))
		}
		f.send(mamFin(q, false, first[len(first)-1].id))
		q, _ = archiveQuery(t, f, first[len(first)-1].id)
		f.send(`<iq type='error' id='` + q.attr("id") + `'><error type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
		s := awaitSession(t, done)
		for _, it := range live {
			f.send(liveMessage(it))
		}
		f.send(`<r xmlns='urn:xmpp:sm:3'/>`)
		for e := f.next(); e.XMLName.Local != "a"; e = f.next() {
		}
		s.Abort()
	}
	a := []archiveItem{item("a-0"), item("a-1"), item("a-2")}
	b := []archiveItem{item("b-0"), item("b-1")}
	login("arch-1", []archiveItem{item("g0")}, a)
	login("g0", []archiveItem{item("g1")}, b)
	if want := "[{a-0 a-2} {b-0 b-1}]"; fmt.Sprint(st.ArchiveLive) != want {
		t.Fatalf("ArchiveLive %v, want %s", st.ArchiveLive, want)
	}

	archive := []archiveItem{item("g2")}
	archive = append(archive, a...)
	archive = append(archive, item("g3"))
	archive = append(archive, b...)
	archive = append(archive, item("g4"))
	f := &fake{t: t, elems: make(chan elem, 1024), mam: true}
	c := &collector{}
	done := connectAsync(t, testConfig(f, c.on), st)
	f.expectSkippingR("presence")
	serveArchive(t, f, "g1", archive)
	s := awaitSession(t, done)
	defer s.Abort()
	delivered(t, s)
	if got := receivedBodies(c.all()); fmt.Sprint(got) != "[body g2 body g3 body g4]" {
		t.Fatalf("delivered %q, want [body g2 body g3 body g4]", got)
	}
	dups := 0
	for _, e := range c.all() {
		if _, ok := e.(session.Duplicate); ok {
			dups++
		}
	}
	if dups != len(a)+len(b) {
		t.Errorf("%d Duplicate events, want %d", dups, len(a)+len(b))
	}
	if st := s.State(); st.LastArchiveID != "g4" || st.ArchiveBehind || len(st.ArchiveLive) != 0 {
		t.Errorf("after the catch-up: LastArchiveID %q, ArchiveBehind %v, ArchiveLive %v; want g4, false, none",
			st.LastArchiveID, st.ArchiveBehind, st.ArchiveLive)
	}
}

// A fresh login after a stream that could not be resumed sends its initial
// presence before the catch-up, and the server answers it with what it
// kept offline: live messages, whose archive ids are later than what the
// archive holds for the dead stream. Handled before the catch-up read where
// to start, such a message moved LastArchiveID past those, and the
// catch-up started after it: they were never fetched.
func TestArchiveCatchUpStartsBeforeOfflineMessages(t *testing.T) {
	f := &fake{t: t, elems: make(chan elem, 1024), mam: true}
	orphan := session.Message{ID: "orphan-1", OriginID: "orphan-1", To: "bob@example.org", Body: "unconfirmed"}
	st := &session.State{ID: "gone", LastAlive: time.Now(), LastArchiveID: "arch-1",
		Orphans: []session.Stanza{{Kind: "message", ID: orphan.ID, To: orphan.To, Sent: time.Now(), Raw: []byte("<message/>"), Message: &orphan}}}
	c := &collector{}
	offline := make(chan struct{})
	var once sync.Once
	cfg := testConfig(f, func(e session.Event) {
		c.on(e)
		if r, ok := e.(session.Received); ok && r.Message.Body == "offline" {
			close(offline) // its archive id is recorded as this returns
		}
	})
	cfg.Persist = func(st *session.State) {
		for _, u := range st.Unacked {
			if u.ID == orphan.ID {
				// The orphan's resend, between the presence and
				// the catch-up: let the offline messages be handled.
				once.Do(func() { <-offline })
			}
		}
	}
	done := connectAsync(t, cfg, st)
	f.expectSkippingR("presence")
	f.send(`<message from='bob@example.org/x' to='alice@example.org/res1' type='chat' id='o9'><body>offline</body>` +
		`<origin-id xmlns='urn:xmpp:sid:0' id='o9'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='arch-9'/></message>`)
	f.expectSkippingR("message") // the orphan
	q, qid := archiveQuery(t, f, "arch-1")
	f.send(mamResult("", qid, "arch-2", "gap", "o2"))
	f.send(mamResult("", qid, "arch-9", "offline", "o9"))
	f.send(mamFin(q, true, "arch-9"))
	s := awaitSession(t, done)
	defer s.Abort()
	delivered(t, s)
	if got := receivedBodies(c.all()); fmt.Sprint(got) != "[offline gap]" {
		t.Fatalf("delivered %q, want [offline gap]: the gap once, the offline message not twice", got)
	}
	if st := s.State(); st.LastArchiveID != "arch-9" || st.ArchiveBehind || len(st.ArchiveLive) != 0 {
		t.Errorf("after the catch-up: LastArchiveID %q, ArchiveBehind %v, ArchiveLive %v; want arch-9, false, none",
			st.LastArchiveID, st.ArchiveBehind, st.ArchiveLive)
	}
}

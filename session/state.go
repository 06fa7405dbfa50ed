package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"mellium.im/xmpp/jid"
)

// stateVersion is written into every saved state; a file with another version
// is refused rather than misread. Version 1 (before SASL2 and FAST) is
// migrated on load: it lacks only fields whose zero value is right.
const stateVersion = 2

// State is the XEP-0198 stream-management state of one account. It outlives a
// TCP connection: a Session takes it over when it connects, keeps it current
// while it runs, and leaves it behind, still resumable where the protocol
// allows, when the connection ends. The next Session (in this process or, once
// saved with Save, in another) takes it over again.
//
// The zero value is a valid empty state: the first Connect then opens a fresh
// session. A State is not safe for concurrent use while a Session owns it;
// read it through Session.State, which returns a copy.
//
// The resumption id is a secret: whoever holds it can take over the stream.
// So is the FAST token. A State never prints either, by value or through a
// pointer (String, Format and LogValue leave them out), and Save writes
// files readable by their owner only.
type State struct {
	// ID is the resumption id from <enabled id='…'/>; empty when the stream
	// cannot be resumed.
	ID string
	// Location is the preferred address to reconnect to (host:port), from
	// <enabled location='…'/>; empty if the server gave none.
	Location string
	// Server is the address (host:port) the last session was connected
	// to, when it was found through DNS SRV (Config.Addr empty), and
	// ServerDirectTLS whether that was with direct TLS. A resumption or a
	// FAST login tries it first: among SRV targets of equal priority the
	// order is random, and the stream to resume (or the node that issued
	// the token) is on this one. Not a secret. Empty before the first
	// login, and when Config.Addr is set (then it is not used).
	Server          string `json:",omitempty"`
	ServerDirectTLS bool   `json:",omitempty"`
	// Max is the longest time the server keeps the stream resumable after the
	// connection is lost, from <enabled max='…'/>; zero if the server gave none.
	Max time.Duration
	// JID is the full JID bound to the stream.
	JID string
	// SM records that the server offered stream management on the last
	// stream, which lets the next login pipeline its requests.
	SM bool
	// InH counts the stanzas received from the server and handled (delivered
	// to the application) since <enabled/> was received; it wraps at 2^32.
	InH uint32
	// OutH is the last h the server acknowledged: the number of our stanzas
	// (modulo 2^32) it has handled since <enable/> was sent.
	OutH uint32
	// Unacked holds, in order, the stanzas sent on this stream that the
	// server has not acknowledged yet. Stanza OutH+1+i is Unacked[i].
	Unacked []Stanza
	// Orphans holds stanzas sent on an earlier stream that can no longer be
	// resumed, whose delivery the server never confirmed. The next fresh
	// session resends the messages among them (with XEP-0203 delay and their
	// original XEP-0359 origin-id) and reports the others as failed.
	Orphans []Stanza
	// Outbox holds messages an application accepted while no session could
	// take them (package reconnect's offline queue), in order, so that they
	// survive the process. The session itself neither reads nor changes it:
	// whoever queues them keeps it current in the copies it saves.
	Outbox []Message `json:",omitempty"`
	// LastAlive is when the stream was last known to work: the last time
	// anything arrived from the server, or when the client detached.
	LastAlive time.Time
	// Closed is when the client itself closed the connection (Detach,
	// Abort), zero while it is up or when it was lost some other way. The
	// server's resumption time (Max) counts from when it noticed the loss,
	// which the client knows only when it closed the connection itself.
	Closed time.Time `json:",omitzero"`
	// LastArchiveID is the archive id (XEP-0359 stanza-id from our server)
	// of the last message handled that had one; after a stream that could
	// not be resumed the archive is asked for what came after it.
	LastArchiveID string `json:",omitempty"`
	// ArchiveBehind records that a catch-up from the archive started and
	// has not finished (it timed out, hit its page bound, or the
	// connection ended): the archive holds messages after LastArchiveID
	// that were not fetched. Until a catch-up finishes, only archive
	// results move LastArchiveID, never a live message, whose id is
	// later than theirs; and the next fresh login catches up again.
	ArchiveBehind bool `json:",omitempty"`
	// ArchiveStart is the time a catch-up with no archive id to start
	// after (LastArchiveID empty) asked the archive to start from. It is
	// kept until a catch-up has handled a result or finished, so that one
	// interrupted before any result is taken up again from the same
	// point: the time it was computed from (LastAlive) moves with every
	// login.
	ArchiveStart time.Time `json:",omitzero"`
	// ArchiveLive lists, in archive order, the spans of live messages
	// handled while the archive was behind (ArchiveBehind), one per
	// connection, each named by the archive ids of its first and last
	// message. The archive holds them too, after what the catch-up has
	// not fetched yet: the next catch-up skips each span rather than
	// deliver it again, which State.Seen, at SeenCap messages, could not
	// promise. At most 16 spans are kept (the oldest is forgotten: Seen
	// is then all that guards it); a finished catch-up clears them.
	ArchiveLive []ArchiveSpan `json:",omitempty"`
	// CSI records that the server offered client state indication
	// (XEP-0352) on the stream: a SASL2 resumption learns it nowhere else.
	CSI bool `json:",omitempty"`
	// Inactive records that the client told the server it is inactive
	// (XEP-0352); it is sent again after a resumption.
	Inactive bool
	// CSIPending records that the client state last set (Inactive) has not
	// been confirmed as received by the server: it is said again after a
	// resumption.
	CSIPending bool `json:",omitempty"`
	// Seen remembers the last SeenCap incoming messages handled, as 8-byte
	// hashes of sender and id, so that a message delivered twice (offline
	// storage after a failed resumption, a sender's resend) reaches the
	// application once.
	Seen []byte `json:",omitempty"`
	// SASL2 lists the SASL2 (XEP-0388) mechanisms the server offered at
	// the last login; empty when it offered none. When set, the next login
	// sends its <authenticate> with the stream header, in one flight.
	SASL2 []string `json:",omitempty"`
	// ChannelBindings lists the channel-binding types (XEP-0440) the server
	// offered with SASL2.
	ChannelBindings []string `json:",omitempty"`
	// FASTMechanisms lists the FAST (XEP-0484) mechanisms the server
	// offered with SASL2, so that a one-flight password login can ask for
	// a token.
	FASTMechanisms []string `json:",omitempty"`
	// UserAgent is this client's SASL2 user-agent id: a random id made on
	// the first SASL2 login and kept, since the server ties FAST tokens to
	// it.
	UserAgent string `json:",omitempty"`
	// FAST is the newest FAST token (XEP-0484) the server issued, nil when
	// there is none. Like ID it is a secret: never printed or logged.
	FAST *FASTToken `json:",omitempty"`
	// NoPLAIN records that the server once authenticated the account by a
	// mechanism that proves it knows the credentials (SCRAM, a FAST
	// token). PLAIN, which hands the password over, is refused from then
	// on (XEP-0474's business rules): an offer of PLAIN alone then comes
	// from someone on the path, or from a server whose configuration
	// changed, which only a fresh State accepts.
	NoPLAIN bool `json:",omitempty"`
	// SSDP records that the server once proved its SASL2 offer with
	// XEP-0474's hash (h= in a SCRAM challenge, checked). From then on a
	// SCRAM challenge without it, or a login offering no SASL2 at all
	// (unless Config.NoSASL2), comes from someone on the path who strips
	// the offer and the hash (the stronger mechanisms, channel binding):
	// it is refused, and only a fresh State accepts it (XEP-0474's
	// business rules, as NoPLAIN).
	SSDP bool `json:",omitempty"`
	// SendLimit is the largest stanza the server said it takes from this
	// client (XEP-0478 max-bytes) on the last fresh stream, in bytes; 0
	// when it said nothing. It lowers the bound on outgoing messages (see
	// SendBound), also on a resumed stream, which gets no stream features.
	SendLimit int `json:",omitempty"`
}

// FASTToken is a XEP-0484 token: whoever holds it can log in as the account
// from this client (its user-agent id) until it expires. Its String,
// LogValue and MarshalJSON never show the token.
type FASTToken struct {
	// Mechanism is the HT mechanism it was issued for, e.g. HT-SHA-256-EXPR.
	Mechanism string
	// Token is the secret.
	Token string
	// Expiry is when the server stops accepting it.
	Expiry time.Time
}

// String describes the token without the secret. Its receiver is a value,
// so that a copy of the token (not only a pointer) prints safely too; fmt
// prints a nil *FASTToken as <nil>.
func (t FASTToken) String() string {
	return "FAST(" + t.Mechanism + ", expires " + t.Expiry.UTC().Format(time.RFC3339) + ")"
}

// GoString is String, for the %#v verb.
func (t FASTToken) GoString() string { return t.String() }

// LogValue implements slog.LogValuer without the secret.
func (t FASTToken) LogValue() slog.Value { return slog.StringValue(t.String()) }

// MarshalJSON encodes the mechanism and the expiry, not the secret, so that
// a token inside a value marshalled to JSON (a log line, an API answer)
// shows no secret. State.Save keeps the token.
func (t FASTToken) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Mechanism string    `json:"mechanism"`
		Expiry    time.Time `json:"expiry"`
	}{t.Mechanism, t.Expiry})
}

// usable reports whether the token may still be tried at time now.
func (t *FASTToken) usable(now time.Time) bool {
	return t != nil && t.Token != "" && (t.Expiry.IsZero() || now.Before(t.Expiry))
}

// SeenCap is how many handled messages State.Seen remembers.
const SeenCap = 1024

// seenKey identifies an incoming message for de-duplication: the sender's
// bare JID with the sender's XEP-0359 origin-id, which is unique by
// definition; or else with the stanza id and the body, since clients reuse
// plain ids (a "1" per session, say) and distinct messages must never be
// taken for one: the rare true duplicate with a reused id and the same body
// is the price. Servers keep both when they redeliver. Messages with no id
// at all are never considered duplicates.
func seenKey(m *Message) (uint64, bool) {
	var key string
	switch {
	case m.OriginID != "":
		key = bare(m.From) + "\x00o\x00" + m.OriginID
	case m.ID != "":
		key = bare(m.From) + "\x00i\x00" + m.ID + "\x00" + m.Body
	default:
		return 0, false
	}
	h := sha256.Sum256([]byte(key))
	return binary.BigEndian.Uint64(h[:8]), true
}

func (st *State) seen(k uint64) bool {
	for i := 0; i+8 <= len(st.Seen); i += 8 {
		if binary.BigEndian.Uint64(st.Seen[i:]) == k {
			return true
		}
	}
	return false
}

func (st *State) remember(k uint64) {
	if len(st.Seen) >= SeenCap*8 {
		st.Seen = append(st.Seen[:0], st.Seen[len(st.Seen)-(SeenCap-1)*8:]...)
	}
	st.Seen = binary.BigEndian.AppendUint64(st.Seen, k)
}

// Stanza is an outbound stanza kept until the server acknowledges it.
type Stanza struct {
	// Kind is "message", "presence" or "iq".
	Kind string
	// ID is the stanza's id attribute.
	ID string
	// To is the stanza's recipient, empty for the server.
	To string
	// Sent is when the stanza was first sent; a message resent on a new
	// stream carries it as its XEP-0203 delay stamp.
	Sent time.Time
	// Raw is the stanza as it was first written to the wire.
	Raw []byte
	// Message is the message the stanza carries, when Kind is "message".
	Message *Message `json:",omitempty"`
}

// Resumable reports whether the stream may still be resumed at time now: the
// server gave a resumption id and, if it announced a maximum, that long has
// not passed since the client closed the connection. A connection lost in
// another way (a black hole, a reset) may have gone unnoticed by the server
// for a while, so it counts as resumable: asking costs one round trip, while
// giving up on a stream the server still holds would strand what it queued.
func (st *State) Resumable(now time.Time) bool {
	if st == nil || st.ID == "" {
		return false
	}
	if st.Max > 0 && !st.Closed.IsZero() && now.Sub(st.Closed) >= st.Max {
		return false
	}
	return true
}

// Clone returns a deep copy of st.
func (st *State) Clone() *State {
	if st == nil {
		return nil
	}
	c := *st
	c.Unacked = cloneStanzas(st.Unacked)
	c.Seen = append([]byte(nil), st.Seen...)
	c.ArchiveLive = append([]ArchiveSpan(nil), st.ArchiveLive...)
	c.Orphans = cloneStanzas(st.Orphans)
	c.Outbox = append([]Message(nil), st.Outbox...)
	if st.Outbox == nil {
		c.Outbox = nil
	}
	c.SASL2 = append([]string(nil), st.SASL2...)
	c.ChannelBindings = append([]string(nil), st.ChannelBindings...)
	c.FASTMechanisms = append([]string(nil), st.FASTMechanisms...)
	if st.FAST != nil {
		f := *st.FAST
		c.FAST = &f
	}
	return &c
}

func cloneStanzas(in []Stanza) []Stanza {
	if in == nil {
		return nil
	}
	out := make([]Stanza, len(in))
	for i, s := range in {
		out[i] = s
		out[i].Raw = append([]byte(nil), s.Raw...)
		if s.Message != nil {
			m := *s.Message
			out[i].Message = &m
		}
	}
	return out
}

// Pending returns the number of stanzas whose delivery is not yet
// confirmed, and of messages still waiting in the Outbox.
func (st *State) Pending() int {
	if st == nil {
		return 0
	}
	return len(st.Unacked) + len(st.Orphans) + len(st.Outbox)
}

// String describes the state without the resumption id or the FAST token.
// A nil *State is "session.State(nil)".
func (st *State) String() string {
	if st == nil {
		return "session.State(nil)"
	}
	return fmt.Sprintf("session.State{resumable:%t jid:%s in:%d out:%d unacked:%d orphans:%d sasl2:%t fast:%t}",
		st.ID != "", st.JID, st.InH, st.OutH, len(st.Unacked), len(st.Orphans), len(st.SASL2) > 0, st.FAST != nil)
}

// Format prints what String does, for every verb (%v, %+v, %#v, %s, ...),
// so that a State printed by value, not only through a pointer, never shows
// the resumption id or the FAST token. Its receiver is a value for that
// reason; fmt prints a nil *State as <nil>.
func (st State) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, st.String()) }

// LogValue implements slog.LogValuer so that logging a State never logs the
// resumption id or the FAST token, by value as through a pointer (its
// receiver is a value for that reason: slog's JSON handler would otherwise
// marshal a State value field by field). Log a *State that may be nil
// through its String.
func (st State) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("resumable", st.ID != ""),
		slog.String("jid", st.JID),
		slog.Any("in_h", st.InH),
		slog.Any("out_h", st.OutH),
		slog.Int("unacked", len(st.Unacked)),
		slog.Int("orphans", len(st.Orphans)),
		slog.Bool("sasl2", len(st.SASL2) > 0),
		slog.Bool("fast", st.FAST != nil),
	)
}

// ackDelta returns how many stanzas an <a h='h'/> acknowledges when the last
// acknowledged count was last: (h − last) mod 2^32.
func ackDelta(h, last uint32) uint32 { return h - last }

// ack applies an acknowledgement of h: it drops the stanzas the server has
// handled and returns them. An h acknowledging more than was sent is a
// protocol violation: ack returns ErrAckOverflow and changes nothing.
func (st *State) ack(h uint32) ([]Stanza, error) {
	d := ackDelta(h, st.OutH)
	if uint64(d) > uint64(len(st.Unacked)) {
		return nil, fmt.Errorf("%w: h=%d acknowledges %d stanzas, %d were unacknowledged",
			ErrAckOverflow, h, d, len(st.Unacked))
	}
	acked := st.Unacked[:d:d]
	st.Unacked = st.Unacked[d:]
	if len(st.Unacked) == 0 {
		st.Unacked = nil
	}
	st.OutH = h
	return acked, nil
}

// orphan ends the resumable stream: what it had not had acknowledged joins
// the orphans, to be resent by the next fresh session, and the counters
// restart.
func (st *State) orphan() {
	st.Orphans = append(st.Orphans, st.Unacked...)
	st.Unacked = nil
	st.ID = ""
	st.Location = ""
	st.Max = 0
	st.Closed = time.Time{}
	st.InH = 0
	st.OutH = 0
}

// stateFile is the on-disk form of a State.
type stateFile struct {
	Version int    `json:"version"`
	Account string `json:"account"`
	*storedState
	// FAST shadows storedState's (the shallower field wins in JSON), in a
	// form that keeps the token: FASTToken's own MarshalJSON leaves it out.
	FAST *storedToken `json:",omitempty"`
}

// storedState is State without its methods, so that its JSON form is every
// field, secrets included: what Save writes and LoadState reads. State's
// own MarshalJSON leaves the secrets out.
type storedState State

// storedToken is FASTToken without its methods, for the same reason.
type storedToken FASTToken

// MarshalJSON encodes the description LogValue gives, without the
// resumption id or the FAST token, so that a State inside a value that is
// logged as JSON (slog's JSON handler marshals a struct field by field)
// shows no secret. It is not the form a State is kept in: Save and
// LoadState keep every field.
func (st State) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Resumable bool   `json:"resumable"`
		JID       string `json:"jid"`
		InH       uint32 `json:"in_h"`
		OutH      uint32 `json:"out_h"`
		Unacked   int    `json:"unacked"`
		Orphans   int    `json:"orphans"`
		SASL2     bool   `json:"sasl2"`
		FAST      bool   `json:"fast"`
	}{st.ID != "", st.JID, st.InH, st.OutH, len(st.Unacked), len(st.Orphans), len(st.SASL2) > 0, st.FAST != nil})
}

// ErrStateFile is wrapped by every error reading a state file that exists but
// cannot be used (corrupt, another version, another account).
var ErrStateFile = errors.New("session: unusable state file")

// ErrForeignStateFile is wrapped (with ErrStateFile) when the state file
// belongs to another account, or to an account it does not say: nothing is
// taken from it, and it must not be overwritten, since what it holds is
// that account's resumable stream and unacknowledged messages.
var ErrForeignStateFile = fmt.Errorf("%w: not this account's", ErrStateFile)

// Save writes st to path atomically (a temporary file renamed over the old
// one, not flushed to disk) with mode 0600, labelled with account (a bare JID) so that it is never
// used for another account.
func (st *State) Save(path, account string) error {
	if st == nil {
		st = &State{}
	}
	b, err := json.Marshal(stateFile{Version: stateVersion, Account: account, storedState: (*storedState)(st), FAST: (*storedToken)(st.FAST)})
	if err != nil {
		return fmt.Errorf("session: encoding state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".xmppbg-state-*")
	if err != nil {
		return fmt.Errorf("session: saving state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("session: saving state: %w", err)
	}
	// No fsync: the rename is atomic, which is what survives the death of
	// the process (the case this file is for); surviving a power cut would
	// cost a disk flush on every message.
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("session: saving state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("session: saving state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("session: saving state: %w", err)
	}
	return nil
}

// LoadState reads a state saved by Save for account. A missing file gives an
// empty state and no error. A file that exists but cannot be used gives an
// error wrapping ErrStateFile together with whatever could be salvaged from it:
// the stanzas it holds, as orphans, so that a fresh session can still resend
// them. The salvaged state is never resumable.
func LoadState(path, account string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return &State{}, fmt.Errorf("session: reading state: %w", err)
	}
	return parseState(b, account)
}

func parseState(b []byte, account string) (*State, error) {
	// Whose it is comes first: nothing of another account's file is ever
	// salvaged (its messages would be sent from this account).
	switch owner, ok := fileAccount(b); {
	case !ok:
		return &State{}, fmt.Errorf("%w: it does not say which account it belongs to", ErrForeignStateFile)
	case normalAccount(owner) != normalAccount(account):
		return &State{}, fmt.Errorf("%w: it belongs to %q, not %q", ErrForeignStateFile, owner, account)
	}
	f := stateFile{storedState: &storedState{}}
	if err := json.Unmarshal(b, &f); err != nil {
		return salvage(b), fmt.Errorf("%w: %v", ErrStateFile, err)
	}
	st := (*State)(f.storedState)
	if st == nil {
		st = &State{}
	}
	st.FAST = (*FASTToken)(f.FAST)
	switch f.Version {
	case 1:
		// Before SASL2 and FAST: nothing to convert, the new fields are
		// empty, and the next Save writes version 2.
	case stateVersion:
	default:
		return salvage(b), fmt.Errorf("%w: version %d, want %d", ErrStateFile, f.Version, stateVersion)
	}
	if err := st.validate(); err != nil {
		out := &State{}
		out.Orphans = validStanzas(append(st.Unacked, st.Orphans...))
		return out, fmt.Errorf("%w: %v", ErrStateFile, err)
	}
	return st, nil
}

// validate checks the invariants a loaded state must hold.
func (st *State) validate() error {
	if st.Max < 0 {
		return errors.New("negative max")
	}
	for _, q := range [][]Stanza{st.Unacked, st.Orphans} {
		for i, s := range q {
			if err := s.validate(); err != nil {
				return fmt.Errorf("stanza %d: %v", i, err)
			}
		}
	}
	return nil
}

func (s Stanza) validate() error {
	switch s.Kind {
	case "message":
		if s.Message == nil {
			return errors.New("message stanza without message")
		}
	case "presence", "iq":
	default:
		return fmt.Errorf("unknown kind %q", s.Kind)
	}
	if len(s.Raw) == 0 {
		return errors.New("empty stanza")
	}
	return nil
}

func validStanzas(in []Stanza) []Stanza {
	var out []Stanza
	for _, s := range in {
		if s.validate() == nil {
			out = append(out, s)
		}
	}
	return out
}

// salvage recovers what it can from a state file that does not decode as a
// whole: each stanza that decodes on its own.
func salvage(b []byte) *State {
	var loose struct {
		Unacked []json.RawMessage
		Orphans []json.RawMessage
		Outbox  []json.RawMessage
	}
	out := &State{}
	if json.Unmarshal(b, &loose) != nil {
		return out
	}
	for _, raw := range append(loose.Unacked, loose.Orphans...) {
		var s Stanza
		if json.Unmarshal(raw, &s) == nil && s.validate() == nil {
			out.Orphans = append(out.Orphans, s)
		}
	}
	for _, raw := range loose.Outbox {
		var m Message
		if json.Unmarshal(raw, &m) == nil && m.To != "" {
			out.Outbox = append(out.Outbox, m)
		}
	}
	return out
}

// fileAccount reads the "account" of a state file, even one that is cut
// short or otherwise broken after it, from its top-level fields.
func fileAccount(b []byte) (string, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return "", false
		}
		if k == "account" {
			var a string
			if d.Decode(&a) != nil || a == "" {
				return "", false
			}
			return a, true
		}
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return "", false
		}
	}
	return "", false
}

// normalAccount is the canonical form of a bare JID for comparing accounts
// ("Alice@Example.ORG" is alice@example.org), or s itself when it is not a
// JID.
func normalAccount(s string) string {
	j, err := jid.Parse(s)
	if err != nil {
		return s
	}
	return j.Bare().String()
}

package scenario

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/reconnect"
	"github.com/xmppbg/xmppbg/session"
	"github.com/xmppbg/xmppbg/suspend"
)

// NoticedEvent is the event of "xmppbg chat --json" by which the client
// reports that it noticed, by itself, that it had been suspended (the
// process stopped and continued, the machine asleep). The timeline records
// it as a "woke" entry, the moment the picture marks.
const NoticedEvent = "woke"

// procAccount is alice played by a real "xmppbg chat --json" process, the
// chat client as a user runs it: the runner types her commands into its
// standard input and reads what happened from its JSON events. Only a
// separate process can be frozen for real (freeze: SIGSTOP, thaw: SIGCONT):
// it then runs no code at all, timers included, and nothing tells it.
//
// What it knows of the client is what the JSON says: its state, the
// messages (a message's id stands for its origin-id, which the client sets
// to the same value), acknowledgements, dead connections and repairs. A
// chat command's reply or error is recorded in the timeline, not returned.
type procAccount struct {
	bin     string
	args    []string
	env     []string
	onEvent func(driver.Event)
	started chan struct{} // closed once cmd and stdin are set
	exited  chan struct{} // closed once the process exited

	mu      sync.Mutex // guards the fields below
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	app     suspend.State
	status  reconnect.Status
	peer    string
	frozen  bool
	pending []*pendingSend    // sends waiting for their "sent" event, in order
	bodies  map[string]string // id → body of the messages sent
}

// pendingSend is a message typed into the process, waiting for its id.
type pendingSend struct {
	line string
	to   string
	body string
	done chan error // receives nil once id is set
	id   string
}

// note is an event of alice's process that the timeline shows as text
// under its own name: a lifecycle step, a status, a chat error, or the
// moment the client noticed a suspension ("woke").
type note struct {
	driver.Stamp
	name string
	text string
}

// newProcAccount prepares alice as the process bin ("xmppbg chat --json
// ARGS") with the password in its environment, never in its arguments, and
// no configuration file (the user's would change her settings).
func newProcAccount(bin, jid, password, addr, caFile, peer string, policy suspend.Policy, probe time.Duration, onEvent func(driver.Event)) *procAccount {
	args := []string{"chat", "--json", "--config", os.DevNull, "--jid", jid, "--addr", addr, "--to", peer,
		"--bg-policy", policy.String(), "--bg-window", DefaultBgWindow.String(),
		"--probe-timeout", probe.String(), "--quit-timeout", logoutTimeout.String()}
	if caFile != "" {
		args = append(args, "--ca-file", caFile)
	}
	return &procAccount{
		bin: bin, args: args, env: append(os.Environ(), "XMPPBG_PASSWORD="+password),
		onEvent: onEvent, started: make(chan struct{}), exited: make(chan struct{}),
		app: suspend.Active, status: reconnect.Connecting, peer: peer, bodies: map[string]string{},
	}
}

// Run starts the process and reports its events until it exits; when ctx
// ends it is killed (continued first if it was frozen, so that it can go).
func (a *procAccount) Run(ctx context.Context) error {
	cmd := exec.Command(a.bin, a.args...)
	cmd.Env = a.env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		close(a.exited)
		return fmt.Errorf("scenario: alice's process: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		close(a.exited)
		return fmt.Errorf("scenario: alice's process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		close(a.exited)
		return fmt.Errorf("scenario: starting alice's process %s: %w", a.bin, err)
	}
	a.mu.Lock()
	a.cmd, a.stdin = cmd, stdin
	a.mu.Unlock()
	close(a.started)

	go func() {
		select {
		case <-ctx.Done():
			_ = cont(cmd.Process)
			_ = cmd.Process.Kill()
		case <-a.exited:
		}
	}()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		a.handle(sc.Bytes())
	}
	_, _ = io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	close(a.exited)
	a.failPending(errors.New("alice's process ended"))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("scenario: alice's process: %w", err)
	}
	return errors.New("scenario: alice's process ended")
}

// errNotStarted: alice's process could not be started (Run says why).
var errNotStarted = errors.New("alice's process is not running")

// running waits until the process started, or reports that it could not.
func (a *procAccount) running() error {
	select {
	case <-a.started:
		return nil
	case <-a.exited:
		select {
		case <-a.started:
			return nil
		default:
			return errNotStarted
		}
	}
}

// write types one line into the process.
func (a *procAccount) write(line string) error {
	if err := a.running(); err != nil {
		return err
	}
	a.mu.Lock()
	stdin := a.stdin
	a.mu.Unlock()
	if _, err := io.WriteString(stdin, line+"\n"); err != nil {
		return fmt.Errorf("typing into alice's process: %w", err)
	}
	return nil
}

// Send types /msg TO BODY and waits for the message's "sent" event.
func (a *procAccount) Send(ctx context.Context, to, body string) (session.Message, error) {
	if strings.ContainsAny(body, "\r\n") {
		return session.Message{}, errors.New("a message typed into the chat is one line")
	}
	p := &pendingSend{line: "/msg " + to + " " + body, to: to, body: body, done: make(chan error, 1)}
	a.mu.Lock()
	a.pending = append(a.pending, p)
	a.mu.Unlock()
	if err := a.write(p.line); err != nil {
		a.dropPending(p)
		return session.Message{}, err
	}
	select {
	case err := <-p.done:
		if err != nil {
			return session.Message{}, err
		}
		return session.Message{ID: p.id, OriginID: p.id, To: to, Body: body}, nil
	case <-ctx.Done():
		a.dropPending(p)
		return session.Message{}, ctx.Err()
	}
}

func (a *procAccount) dropPending(p *pendingSend) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, x := range a.pending {
		if x == p {
			a.pending = append(a.pending[:i], a.pending[i+1:]...)
			return
		}
	}
}

func (a *procAccount) failPending(err error) {
	a.mu.Lock()
	pending := a.pending
	a.pending = nil
	a.mu.Unlock()
	for _, p := range pending {
		p.done <- err
	}
}

// Exec types the command. Its reply or error comes as an event.
func (a *procAccount) Exec(_ context.Context, c driver.Command) (string, error) {
	if c.Op == driver.OpTo {
		a.mu.Lock()
		a.peer = c.To
		a.mu.Unlock()
	}
	return "", a.write(chatString(c))
}

func (a *procAccount) Peer() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peer
}

func (a *procAccount) AppState() suspend.State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.app
}

func (a *procAccount) Status() reconnect.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// Foreground types /resume.
func (a *procAccount) Foreground() error { return a.write("/resume") }

// Logout ends the input: the chat waits for the server's acknowledgements,
// logs out and exits.
func (a *procAccount) Logout(ctx context.Context) error {
	if err := a.running(); err != nil {
		return err
	}
	a.mu.Lock()
	cmd, stdin := a.cmd, a.stdin
	a.mu.Unlock()
	_ = stdin.Close()
	select {
	case <-a.exited:
		return nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return ctx.Err()
	}
}

// Freeze stops the process (SIGSTOP).
func (a *procAccount) Freeze() error {
	if err := a.running(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := stop(a.cmd.Process); err != nil {
		return fmt.Errorf("stopping alice's process: %w", err)
	}
	a.frozen = true
	return nil
}

// Thaw continues the process (SIGCONT).
func (a *procAccount) Thaw() error {
	if err := a.running(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := cont(a.cmd.Process); err != nil {
		return fmt.Errorf("continuing alice's process: %w", err)
	}
	a.frozen = false
	return nil
}

// Frozen reports whether the process is stopped.
func (a *procAccount) Frozen() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.frozen
}

// jsonEvent is one line of the chat's JSON output, the fields used here.
type jsonEvent struct {
	Event   string   `json:"event"`
	Time    string   `json:"time"`
	State   string   `json:"state"`
	Fresh   bool     `json:"fresh"`
	MS      int64    `json:"ms"`
	Attempt int      `json:"attempt"`
	Error   string   `json:"error"`
	From    string   `json:"from"`
	To      string   `json:"to"`
	Body    string   `json:"body"`
	ID      string   `json:"id"`
	IDs     []string `json:"ids"`
	Delayed bool     `json:"delayed"`
	Delay   string   `json:"delay"`
	Queued  bool     `json:"queued"`
	Probe   bool     `json:"probe"`
	Text    string   `json:"text"`
	Message string   `json:"message"`
	Input   string   `json:"input"`
	Peer    string   `json:"peer"`
	App     string   `json:"app"`
	Conn    string   `json:"connection"`
	Unacked int      `json:"unacked"`
	Reason  string   `json:"reason"`
	Cause   string   `json:"cause"`
	Action  string   `json:"action"`
}

// handle turns one line of output into an event.
func (a *procAccount) handle(line []byte) {
	var j jsonEvent
	if err := json.Unmarshal(line, &j); err != nil {
		a.onEvent(note{Stamp: driver.Stamp{At: time.Now()}, name: "error", text: fmt.Sprintf("not JSON from alice's process: %q", line)})
		return
	}
	// Stamped when read: the JSON's times have millisecond resolution,
	// too coarse to order them among the runner's own entries, and the
	// pipe adds microseconds (a stopped process writes nothing).
	at := time.Now()
	st := driver.Stamp{At: at}
	ms := time.Duration(j.MS) * time.Millisecond
	var errv error
	if j.Error != "" {
		errv = errors.New(j.Error)
	}
	var e driver.Event
	switch j.Event {
	case "state":
		s := stateNamed(j.State)
		a.setState(s)
		sc := driver.StateChanged{Stamp: st, State: s, Fresh: j.Fresh, Err: errv}
		if s == driver.Online {
			sc.SinceResume = ms
		}
		e = sc
	case "resumed":
		e = driver.Resumed{Stamp: st, Login: ms, Attempt: j.Attempt}
	case "message":
		m := session.Message{From: j.From, To: j.To, Body: j.Body, ID: j.ID}
		if j.Delayed {
			m.Delay, _ = time.Parse(time.RFC3339Nano, j.Delay)
		}
		e = driver.Received{Stamp: st, Message: m}
	case "duplicate":
		e = driver.Duplicate{Stamp: st, Message: session.Message{From: j.From, ID: j.ID}}
	case "sent":
		e = driver.Sent{Stamp: st, Message: a.sent(j.ID, j.To), Queued: j.Queued}
	case "acked":
		e = driver.Acked{Stamp: st, IDs: j.IDs}
	case "resent":
		e = driver.Resent{Stamp: st, IDs: j.IDs, Delayed: j.Delayed}
	case "dead":
		e = driver.Dead{Stamp: st, Err: errv, ByProbe: j.Probe, Took: ms}
	case "retry":
		e = driver.Retrying{Stamp: st, Attempt: j.Attempt, Delay: ms, Err: errv}
	case "warning":
		e = driver.Warning{Stamp: st, Reason: driver.WarnSession, Detail: j.Message}
	case NoticedEvent:
		text := "noticed by itself that it had been suspended"
		if j.Cause != "" {
			text += " (" + j.Cause + "; " + j.Action + ")"
		}
		e = note{Stamp: st, name: "woke", text: text}
	case "lifecycle", "info", "help":
		e = note{Stamp: st, name: "lifecycle", text: j.Text}
	case "status":
		e = note{Stamp: st, name: "status", text: fmt.Sprintf("app %s, connection %s, %d unacknowledged", j.App, j.Conn, j.Unacked)}
	case "error":
		a.commandFailed(j.Input, j.Error)
		e = note{Stamp: st, name: "error", text: "error: " + j.Error}
	default: // peer, quit
		return
	}
	a.onEvent(e)
}

// setState follows the app's and the connection's state.
func (a *procAccount) setState(s driver.State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch s {
	case driver.Background:
		a.app = suspend.Background
	case driver.Suspended:
		a.app, a.status = suspend.Suspended, reconnect.Suspended
	case driver.Connecting:
		a.status = reconnect.Connecting
	case driver.Online:
		a.status = reconnect.Online
	case driver.Resuming:
		a.status = reconnect.Resuming
	case driver.Reconnecting:
		a.status = reconnect.Reconnecting
	case driver.Offline:
		a.status = reconnect.Offline
	}
	if s != driver.Background && s != driver.Suspended && a.app == suspend.Suspended {
		a.app = suspend.Active // a connection state after a suspension: resumed
	}
}

// sent returns the message a "sent" event is about: the next message typed
// (its first event), or one seen before (sent again once online).
func (a *procAccount) sent(id, to string) session.Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	if body, ok := a.bodies[id]; ok {
		return session.Message{ID: id, OriginID: id, To: to, Body: body}
	}
	if len(a.pending) == 0 {
		return session.Message{ID: id, OriginID: id, To: to}
	}
	p := a.pending[0]
	a.pending = a.pending[1:]
	p.id = id
	a.bodies[id] = p.body
	p.done <- nil
	return session.Message{ID: id, OriginID: id, To: to, Body: p.body}
}

// commandFailed ends the pending send whose line the chat refused.
func (a *procAccount) commandFailed(input, msg string) {
	if input == "" {
		return
	}
	a.mu.Lock()
	var failed *pendingSend
	for i, p := range a.pending {
		if p.line == input {
			failed = p
			a.pending = append(a.pending[:i], a.pending[i+1:]...)
			break
		}
	}
	a.mu.Unlock()
	if failed != nil {
		failed.done <- errors.New(msg)
	}
}

// stateNamed returns the driver.State called name.
func stateNamed(name string) driver.State {
	for s := driver.Connecting; s <= driver.Offline; s++ {
		if s.String() == name {
			return s
		}
	}
	return 0
}

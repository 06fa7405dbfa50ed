package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xmppbg/xmppbg/suspend"
)

// Help describes the chat commands.
const Help = `Commands:
  TEXT               send TEXT to the current peer
  /to JID            make JID the current peer
  /msg JID TEXT      send TEXT to JID
  /bg [DURATION]     enter the background with a task window (default from --bg-window)
  /suspend           suspend now (the background policy runs first)
  /resume            come back to the foreground: probe the connection, repair it
                     (in the foreground already: just probe it)
  /tear rst|blackhole|reclaim
                     break the current connection that way (a suspended app
                     has one only with --bg-policy hold)
  /status            show the connection and app state
  /help              this text
  /quit              leave once everything sent is acknowledged`

// Op is what a chat command does.
type Op int

// The chat commands.
const (
	// OpNone: a blank line, nothing to do.
	OpNone Op = iota
	// OpSend: send Text to To (the current peer when empty).
	OpSend
	// OpTo: make To the current peer.
	OpTo
	// OpBg: go to the background with a task window of Window (the
	// default when zero).
	OpBg
	// OpSuspend: suspend now.
	OpSuspend
	// OpResume: come back to the foreground.
	OpResume
	// OpTear: break the connection with Fault.
	OpTear
	// OpStatus: report the status.
	OpStatus
	// OpHelp: show Help.
	OpHelp
	// OpQuit: leave.
	OpQuit
)

var opNames = [...]string{"", "send", "to", "bg", "suspend", "resume", "tear", "status", "help", "quit"}

// String returns the command's name, as typed after "/" (send for a plain
// line or /msg).
func (o Op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "unknown"
}

// Command is one parsed chat command.
type Command struct {
	Op     Op
	To     string
	Text   string
	Window time.Duration
	Fault  suspend.Fault
}

// simpleOps are the commands without arguments, by name.
var simpleOps = map[string]Op{"suspend": OpSuspend, "resume": OpResume, "status": OpStatus, "help": OpHelp, "quit": OpQuit}

// ErrUsage is wrapped by errors in a command's syntax.
var ErrUsage = errors.New("usage")

// ParseCommand parses one line of input. A line not starting with "/" is a
// message to the current peer (To empty). Blank lines give a zero Command.
func ParseCommand(line string) (Command, error) {
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(line) == "" {
		return Command{}, nil
	}
	if !strings.HasPrefix(line, "/") || strings.HasPrefix(line, "//") {
		if strings.HasPrefix(line, "//") {
			line = line[1:] // "//text" sends "/text"
		}
		return Command{Op: OpSend, Text: line}, nil
	}
	fields := strings.Fields(line)
	name, args := strings.TrimPrefix(fields[0], "/"), fields[1:]
	switch name {
	case "to":
		if len(args) != 1 {
			return Command{}, fmt.Errorf("%w: /to JID", ErrUsage)
		}
		return Command{Op: OpTo, To: args[0]}, nil
	case "msg":
		if len(args) < 2 {
			return Command{}, fmt.Errorf("%w: /msg JID TEXT", ErrUsage)
		}
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line[len(fields[0]):]), args[0]))
		return Command{Op: OpSend, To: args[0], Text: rest}, nil
	case "bg":
		c := Command{Op: OpBg}
		switch len(args) {
		case 0:
		case 1:
			d, err := time.ParseDuration(args[0])
			if err != nil || d <= 0 {
				return Command{}, fmt.Errorf("%w: /bg [DURATION], e.g. /bg 20s (got %q)", ErrUsage, args[0])
			}
			c.Window = d
		default:
			return Command{}, fmt.Errorf("%w: /bg [DURATION]", ErrUsage)
		}
		return c, nil
	case "tear":
		if len(args) != 1 {
			return Command{}, fmt.Errorf("%w: /tear rst|blackhole|reclaim", ErrUsage)
		}
		f, err := suspend.ParseFault(args[0])
		if err != nil {
			return Command{}, fmt.Errorf("%w: /tear rst|blackhole|reclaim (no fault %q)", ErrUsage, args[0])
		}
		return Command{Op: OpTear, Fault: f}, nil
	case "suspend", "resume", "status", "help", "quit":
		if len(args) != 0 {
			return Command{}, fmt.Errorf("%w: /%s takes no argument", ErrUsage, name)
		}
		return Command{Op: simpleOps[name]}, nil
	}
	return Command{}, fmt.Errorf("%w: unknown command /%s (try /help)", ErrUsage, name)
}

// Exec runs one command. It returns what to show the user (may be empty).
// OpQuit is not run here: the caller decides how to leave (see Drain).
func (d *Driver) Exec(ctx context.Context, c Command) (string, error) {
	switch c.Op {
	case OpNone:
		return "", nil
	case OpSend:
		to := c.To
		if to == "" {
			to = d.Peer()
		}
		if to == "" {
			return "", fmt.Errorf("%w: no current peer: use /to JID or /msg JID TEXT", ErrUsage)
		}
		_, err := d.Send(ctx, to, c.Text)
		return "", err
	case OpTo:
		d.SetPeer(c.To)
		return "talking to " + c.To, nil
	case OpBg:
		return "", d.Background(c.Window)
	case OpSuspend:
		return "", d.Suspend()
	case OpResume:
		if d.app.State() == suspend.Active {
			// Nothing to come back from: check the connection instead.
			return d.Probe(ctx), nil
		}
		return "", d.Resume()
	case OpTear:
		return "", d.Tear(c.Fault)
	case OpStatus:
		st := d.Status()
		return fmt.Sprintf("app %s, connection %s, peer %q, jid %s, stream management %t, resumable %t, %d unacknowledged, %d queued",
			st.App, st.Client, st.Peer, st.JID, st.SM, st.Resumable, st.Unacked, st.Queued), nil
	case OpHelp:
		return Help, nil
	case OpQuit:
		return "", nil
	}
	return "", fmt.Errorf("%w: unknown command %v", ErrUsage, c.Op)
}

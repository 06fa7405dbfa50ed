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
  /tear rst|blackhole|reclaim
                     break the current connection that way
  /status            show the connection and app state
  /help              this text
  /quit              leave once everything sent is acknowledged`

// Command is one parsed chat command.
type Command struct {
	// Name is "send", "to", "bg", "suspend", "resume", "tear", "status",
	// "help" or "quit".
	Name   string
	To     string
	Text   string
	Window time.Duration
	Fault  suspend.Fault
}

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
		return Command{Name: "send", Text: line}, nil
	}
	fields := strings.Fields(line)
	name, args := strings.TrimPrefix(fields[0], "/"), fields[1:]
	switch name {
	case "to":
		if len(args) != 1 {
			return Command{}, fmt.Errorf("%w: /to JID", ErrUsage)
		}
		return Command{Name: "to", To: args[0]}, nil
	case "msg":
		if len(args) < 2 {
			return Command{}, fmt.Errorf("%w: /msg JID TEXT", ErrUsage)
		}
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line[len(fields[0]):]), args[0]))
		return Command{Name: "send", To: args[0], Text: rest}, nil
	case "bg":
		c := Command{Name: "bg"}
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
			return Command{}, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		return Command{Name: "tear", Fault: f}, nil
	case "suspend", "resume", "status", "help", "quit":
		if len(args) != 0 {
			return Command{}, fmt.Errorf("%w: /%s takes no argument", ErrUsage, name)
		}
		return Command{Name: name}, nil
	}
	return Command{}, fmt.Errorf("%w: unknown command /%s (try /help)", ErrUsage, name)
}

// Exec runs one command. It returns what to show the user (may be empty).
// "quit" is not run here: the caller decides how to leave (see Drain).
func (d *Driver) Exec(ctx context.Context, c Command) (string, error) {
	switch c.Name {
	case "":
		return "", nil
	case "send":
		to := c.To
		if to == "" {
			to = d.Peer()
		}
		if to == "" {
			return "", fmt.Errorf("%w: no current peer: use /to JID or /msg JID TEXT", ErrUsage)
		}
		_, err := d.Send(ctx, to, c.Text)
		return "", err
	case "to":
		d.SetPeer(c.To)
		return "talking to " + c.To, nil
	case "bg":
		return "", d.Background(c.Window)
	case "suspend":
		return "", d.Suspend()
	case "resume":
		return "", d.Resume()
	case "tear":
		return "", d.Tear(c.Fault)
	case "status":
		st := d.Status()
		return fmt.Sprintf("app %s, connection %s, peer %q, jid %s, stream management %t, resumable %t, %d unacknowledged, %d queued",
			st.App, st.Client, st.Peer, st.JID, st.SM, st.Resumable, st.Unacked, st.Queued), nil
	case "help":
		return Help, nil
	case "quit":
		return "", nil
	}
	return "", fmt.Errorf("%w: unknown command %q", ErrUsage, c.Name)
}

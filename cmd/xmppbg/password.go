package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/term"
)

// Bounds of what is read as a password.
const (
	// maxPasswordFile bounds how much of a password file is read.
	maxPasswordFile = 64 << 10
	// maxCommandStderr bounds the password command's stderr kept for an
	// error message.
	maxCommandStderr = 4 << 10
)

// password returns the account's password from XMPPBG_PASSWORD, else
// --password-file, else --password-command, else a prompt on the terminal
// (the controlling terminal, also when stdin is a pipe). It is never echoed,
// logged or put in an error.
func (g *globalOptions) password(jid string) (string, error) {
	if pw := g.Getenv(envPassword); pw != "" {
		return pw, nil
	}
	if g.PasswordFile != "" {
		return readPasswordFile(g.PasswordFile, g.Output())
	}
	if g.PasswordCommand != "" {
		return runPasswordCommand(g.context(), g.PasswordCommand)
	}
	tty, closeTTY := g.terminal()
	if tty == nil {
		return "", usageErrorf("no password: set %s, use --password-file FILE or --password-command CMD, or run on a terminal to be prompted", envPassword)
	}
	defer closeTTY()
	return promptPassword(g.context(), tty, jid)
}

// context returns the command's context (cancelled by SIGINT and SIGTERM).
func (g *globalOptions) context() context.Context {
	if g.ctx == nil {
		return context.Background()
	}
	return g.ctx
}

// terminal returns the terminal to prompt on: stdin when it is one, else
// the controlling terminal (OpenTTY) when there is one, else nil.
func (g *globalOptions) terminal() (*os.File, func()) {
	if f, ok := g.IO.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f, func() {}
	}
	if g.OpenTTY == nil {
		return nil, nil
	}
	f, err := g.OpenTTY()
	if err != nil || !term.IsTerminal(int(f.Fd())) {
		if f != nil {
			f.Close()
		}
		return nil, nil
	}
	return f, func() { f.Close() }
}

// promptPassword asks for the password on tty without echo. Ctrl-C (SIGINT,
// which cancels ctx) gives up at once and puts the terminal back as it was.
func promptPassword(ctx context.Context, tty *os.File, jid string) (string, error) {
	fd := int(tty.Fd())
	saved, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("reading the password from the terminal: %w", err)
	}
	fmt.Fprintf(tty, "Password for %s: ", sanitize(jid))
	type answer struct {
		pw  []byte
		err error
	}
	got := make(chan answer, 1)
	go func() {
		pw, err := term.ReadPassword(fd)
		got <- answer{pw, err}
	}()
	select {
	case a := <-got:
		fmt.Fprintln(tty)
		if a.err != nil {
			return "", fmt.Errorf("reading the password from the terminal: %w", a.err)
		}
		if len(a.pw) == 0 {
			return "", usageErrorf("empty password")
		}
		return string(a.pw), nil
	case <-ctx.Done():
		// The reader stays blocked until the process ends; the
		// terminal gets its echo back now.
		_ = term.Restore(fd, saved)
		fmt.Fprintln(tty)
		return "", usageErrorf("no password: interrupted at the prompt")
	}
}

// runPasswordCommand runs the password command (through the shell, as
// go-sendxmpp's eval_password) and returns the first line of its output. Its
// stdin is empty (the message text may be on ours); a password manager that
// asks for a passphrase uses the terminal itself. When it fails, its exit
// status and stderr are in the error (never its stdout, which may hold the
// password); the command line itself is not repeated either.
func runPasswordCommand(ctx context.Context, command string) (string, error) {
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd", "/C", command)
	} else {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", command)
	}
	var stdout bytes.Buffer
	stderr := &limitedBuffer{max: maxCommandStderr}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	// Once the shell is killed, a child of its that still holds the
	// pipes (Ctrl-C reaches it anyway: it is in our process group) does
	// not hold us.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", usageErrorf("no password: interrupted while password-command ran")
	}
	if err != nil {
		msg := "password-command failed"
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			msg += fmt.Sprintf(" (exit status %d)", exit.ExitCode())
		default:
			msg += ": " + fileErrText(err)
		}
		if e := strings.TrimSpace(stderr.String()); e != "" {
			msg += "; its stderr:\n  " + sanitizeLines(e, "\n  ")
		}
		return "", usageErrorf("%s", msg)
	}
	line, _, _ := strings.Cut(stdout.String(), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", usageErrorf("password-command printed no password (its first line of output is empty)")
	}
	return line, nil
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	b   bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.b.String() }

// readPasswordFile returns the first line of the file at path, without its
// line ending. It warns when the file is accessible to group or others.
func readPasswordFile(path string, o *output) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fileError("--password-file "+path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		if !fi.Mode().IsRegular() && fi.Mode()&os.ModeNamedPipe == 0 {
			return "", usageErrorf("password file %s is not a regular file", path)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 && fi.Mode().IsRegular() {
			o.Warn(fmt.Sprintf("password file %s is accessible by group or others (mode %#o): chmod 600 it", path, perm))
		}
	}
	line, err := bufio.NewReader(io.LimitReader(f, maxPasswordFile)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fileError("--password-file "+path, err)
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return "", usageErrorf("password file %s: the first line is empty", path)
	}
	return string(line), nil
}

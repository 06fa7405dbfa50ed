package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// maxHistory bounds the lines kept, in memory and in the file.
const maxHistory = 1000

// envStateHome is the XDG base directory of state files: the history file
// is $XDG_STATE_HOME/xmppbg/history.
const envStateHome = "XDG_STATE_HOME"

// historyPath returns where the chat's history is kept: under
// $XDG_STATE_HOME, else ~/.local/state on Unix, the user's configuration
// directory on Windows and macOS.
func historyPath(getenv func(string) string) (string, error) {
	if d := getenv(envStateHome); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "xmppbg", "history"), nil
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "xmppbg", "history"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(home, ".local", "state", "xmppbg", "history"), nil
}

// lineHistory is the line editor's history (a term.History): the lines
// entered, newest last, and, when it has a file, the same lines appended
// to it as they are entered, so that the next chat has them. The file is
// the user's only (0600, in a 0700 directory). A line is kept out when it
// starts with a space, or when secret says so (it contains the password).
type lineHistory struct {
	secret func(string) bool

	mu    sync.Mutex
	lines []string
	f     *os.File // nil: in memory only
	err   error    // the first write error; writing stops then
}

// openHistory reads the history file at path (missing is empty) and opens
// it to append to. An empty path keeps the history in memory.
func openHistory(path string, secret func(string) bool) (*lineHistory, error) {
	h := &lineHistory{secret: secret}
	if path == "" {
		return h, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return h, fmt.Errorf("history file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return h, fmt.Errorf("history file: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Typed messages are private: the file is the user's only.
		_ = f.Chmod(0o600)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxChatLine+2)
	for sc.Scan() {
		if line := sc.Text(); h.keep(line) {
			h.lines = append(h.lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		// A line too long (the file was not ours): start afresh in
		// memory rather than lose the file.
		_ = f.Close()
		return &lineHistory{secret: secret}, fmt.Errorf("history file %s: %w", path, err)
	}
	read := len(h.lines)
	if len(h.lines) > maxHistory {
		h.lines = h.lines[len(h.lines)-maxHistory:]
	}
	h.f = f
	if read > 2*maxHistory {
		h.compact(path)
	}
	return h, nil
}

// compact rewrites the file with the lines kept, so that it does not grow
// for ever. Another chat appending meanwhile may lose a line, which the
// history can afford.
func (h *lineHistory) compact(path string) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".history-*")
	if err != nil {
		return
	}
	w := bufio.NewWriter(tmp)
	for _, l := range h.lines {
		_, _ = w.WriteString(l + "\n")
	}
	if w.Flush() != nil || tmp.Chmod(0o600) != nil || tmp.Close() != nil || os.Rename(tmp.Name(), path) != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	_ = h.f.Close()
	h.f = f
}

// keep reports whether line goes into the history.
func (h *lineHistory) keep(line string) bool {
	if line == "" || strings.HasPrefix(line, " ") || strings.ContainsAny(line, "\r\n") {
		return false
	}
	return h.secret == nil || !h.secret(line)
}

// Add records a line entered (term.History).
func (h *lineHistory) Add(line string) {
	if !h.keep(line) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.lines); n > 0 && h.lines[n-1] == line {
		return
	}
	h.lines = append(h.lines, line)
	if len(h.lines) > maxHistory {
		h.lines = append(h.lines[:0], h.lines[len(h.lines)-maxHistory:]...)
	}
	if h.f != nil && h.err == nil {
		if _, err := h.f.WriteString(line + "\n"); err != nil {
			h.err = err
		}
	}
}

// Len is the number of lines (term.History).
func (h *lineHistory) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lines)
}

// At returns a line, 0 being the newest (term.History).
func (h *lineHistory) At(i int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i < 0 || i >= len(h.lines) {
		return ""
	}
	return h.lines[len(h.lines)-1-i]
}

// Close closes the file; it reports the first write error.
func (h *lineHistory) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f = nil
	return errors.Join(h.err, err)
}

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The configuration file holds account settings so that they need not be
// typed every time. It is found at --config FILE, else $XMPPBG_CONFIG, else
// $XDG_CONFIG_HOME/xmppbg/config (~/.config/xmppbg/config). Lines are
//
//	# a comment
//	jid = alice@example.org
//	ca-file = /etc/ssl/my-ca.pem
//	bg-policy = hold
//
// or, as in go-sendxmpp's configuration file, "key: value". Keys are flag
// names; a key applies to every command that has that flag. Of go-sendxmpp's
// keys, username (jid) and eval_password (password-command) are understood;
// jserver and port are refused with a hint to write one addr = HOST:PORT
// instead. Flags and environment
// variables override the file. A password cannot be stored here (use
// password-file or password-command).
const envConfig = "XMPPBG_CONFIG"

// configEntry is one key = value line.
type configEntry struct {
	Key, Value string
	Line       int
}

// configError is an error in the configuration file, naming file and line.
type configError struct {
	File string
	Line int
	Msg  string
}

func (e *configError) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// parseConfig reads key = value lines.
func parseConfig(name string, r io.Reader) ([]configEntry, error) {
	var out []configEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// "key = value", or go-sendxmpp's "key: value": whichever
		// separator comes first (a value may hold the other one).
		sep := "="
		if c, e := strings.IndexByte(line, ':'), strings.IndexByte(line, '='); c >= 0 && (e < 0 || c < e) {
			sep = ":"
		}
		key, value, ok := strings.Cut(line, sep)
		if !ok {
			// The line is not shown: it may be a secret (the perl
			// sendxmpp's "user@server password").
			return nil, &configError{name, n, "want key = value (or key: value)"}
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if alias, ok := sendxmppKeys[key]; ok {
			if alias == "" {
				return nil, &configError{name, n, fmt.Sprintf("%s (go-sendxmpp) is not a setting here: use addr = HOST:PORT", key)}
			}
			key = alias
		}
		if len(value) >= 2 && (value[0] == '"' && value[len(value)-1] == '"' || value[0] == '\'' && value[len(value)-1] == '\'') {
			value = value[1 : len(value)-1]
		}
		switch {
		case key == "":
			return nil, &configError{name, n, "empty key"}
		case strings.ContainsAny(key, " \t"):
			// Not shown either: "user@server pass=word" lands here.
			return nil, &configError{name, n, "invalid key: a key is a flag name, without spaces"}
		case key == "password":
			return nil, &configError{name, n, "passwords are not kept in the configuration file: use password-file = FILE (mode 0600), password-command = CMD or XMPPBG_PASSWORD"}
		case key == "config":
			return nil, &configError{name, n, "config cannot name another configuration file"}
		}
		if prev, dup := seen[key]; dup {
			return nil, &configError{name, n, fmt.Sprintf("%s set twice (first on line %d)", key, prev)}
		}
		seen[key] = n
		out = append(out, configEntry{Key: key, Value: value, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, &configError{name, 0, err.Error()}
	}
	return out, nil
}

// sendxmppKeys maps go-sendxmpp's configuration keys to ours; "" for the
// ones that have no equivalent of their own.
var sendxmppKeys = map[string]string{
	"username":      "jid",
	"eval_password": "password-command",
	"jserver":       "",
	"port":          "",
}

// configPath returns the configuration file to read and whether it was
// asked for explicitly (then it must exist).
func (g *globalOptions) configPath() (string, bool) {
	if g.ConfigFile != "" {
		return g.ConfigFile, true
	}
	if p := g.Getenv(envConfig); p != "" {
		return p, true
	}
	dir := g.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := g.Getenv("HOME")
		if home == "" {
			return "", false
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "xmppbg", "config"), false
}

// applyConfig sets, from the configuration file, the flags of cmd that were
// not given on the command line (or through their environment variable).
func (g *globalOptions) applyConfig(cmd *cobra.Command) error {
	path, explicit := g.configPath()
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fileError("configuration file "+path, err)
	}
	defer f.Close()
	entries, err := parseConfig(path, f)
	if err != nil {
		return &usageError{err}
	}
	for _, e := range entries {
		fl := cmd.Flags().Lookup(e.Key)
		if fl == nil {
			if !knownFlag(cmd.Root(), e.Key) {
				return &usageError{&configError{path, e.Line, fmt.Sprintf("unknown setting %q (settings are flag names, e.g. jid, addr, ca-file)", e.Key)}}
			}
			continue // a flag of another command
		}
		if fl.Changed || e.Key == "jid" && g.Getenv(envJID) != "" {
			continue
		}
		if err := fl.Value.Set(e.Value); err != nil {
			return &usageError{&configError{path, e.Line, fmt.Sprintf("%s = %s: %s", e.Key, sanitize(e.Value), valueHint(fl))}}
		}
		if err := checkChoice(fl.Name, e.Value); err != nil {
			return &usageError{&configError{path, e.Line, err.Error()}}
		}
	}
	return nil
}

// knownFlag reports whether any command has a flag of that name.
func knownFlag(c *cobra.Command, name string) bool {
	found := false
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name == name {
				found = true
			}
		})
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name == name {
				found = true
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(c)
	return found
}

// choices lists the values of the flags that take one of a few words.
var choices = map[string][]string{
	"bg-policy": {"hold", "detach", "close"},
	"log-level": {"debug", "info", "warn", "error"},
}

// checkChoice checks the value of a flag that takes one of a few words.
func checkChoice(flag, value string) error {
	want, ok := choices[flag]
	if !ok {
		return nil
	}
	for _, w := range want {
		if strings.EqualFold(value, w) || flag == "log-level" && strings.EqualFold(value, "warning") {
			return nil
		}
	}
	return fmt.Errorf("%s = %s: want %s", flag, sanitize(value), strings.Join(want, ", "))
}

// valueHint says what a flag's value must look like, in words (not
// strconv's).
func valueHint(fl *pflag.Flag) string {
	switch fl.Value.Type() {
	case "bool":
		return "want true or false"
	case "duration":
		return "want a duration such as 500ms, 30s or 2m"
	case "int", "int64", "uint", "uint32":
		return "want a whole number"
	}
	return "invalid value"
}

package prosody

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/xmppbg/xmppbg/internal/serverproc"
)

// Register creates (or overwrites) the account user@Domain with password by
// running `prosodyctl --config FILE register USER DOMAIN PASS` (on an
// attached server: Remote.Prosodyctl followed by `register USER DOMAIN
// PASS`). It works whether or not the server is running.
//
// The password is on prosodyctl's command line, visible to other local users
// through ps(1) while the command runs; prosodyctl has no other
// non-interactive way to take it. It is never put in errors or logs.
func (s *Server) Register(ctx context.Context, user, password string) error {
	if user == "" || password == "" {
		// With no password prosodyctl would prompt on the terminal.
		return fmt.Errorf("prosody: register %q: empty user or password", user)
	}
	var cmd *exec.Cmd
	if s.external {
		args := append(s.ctlPrefix[1:len(s.ctlPrefix):len(s.ctlPrefix)], "register", user, s.domain, password)
		cmd = exec.CommandContext(ctx, s.ctlPrefix[0], args...)
	} else {
		cmd = exec.CommandContext(ctx, s.prosodyctlBin, "--config", s.configFile, "register", user, s.domain, password)
		cmd.Env = s.env
		cmd.Dir = s.dir
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.ReplaceAll(strings.TrimSpace(string(out)), password, "********")
		return fmt.Errorf("prosody: register %s@%s (%s): %w: %s", user, s.domain, cmd.Path, err, serverproc.LastLines(msg, 10))
	}
	return nil
}

// RegisterMany registers all accounts (localpart -> password), overwriting
// existing ones.
//
// Locally it writes the account files directly in Prosody's internal storage
// format for internal_hashed (what prosodyctl writes: SCRAM-SHA-1 stored and
// server keys, a random salt, 10000 iterations), in parallel; a running
// server reads them on the next login. The tests check the format against
// Prosody 0.12.3 by logging in with PLAIN, which Prosody verifies against
// both stored keys. Localparts outside [a-z0-9._-] and passwords
// outside printable ASCII (where nodeprep/SASLprep could change them) go
// through prosodyctl instead. On an attached server it runs prosodyctl, a few
// at a time.
func (s *Server) RegisterMany(ctx context.Context, accounts map[string]string) error {
	if len(accounts) == 0 {
		return nil
	}
	type account struct{ user, password string }
	work := make(chan account)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	workers := runtime.GOMAXPROCS(0)
	if s.external {
		workers = 4
	}
	for range min(workers, len(accounts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				var err error
				if !s.external && directWritable(a.user, a.password) {
					err = s.writeAccount(a.user, a.password)
				} else {
					err = s.Register(ctx, a.user, a.password)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for user, password := range accounts {
		if ctx.Err() != nil {
			break
		}
		work <- account{user, password}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("prosody: register accounts: %w", err))
	}
	return errors.Join(errs...)
}

// directWritable reports whether nodeprep(user) == user and
// SASLprep(password) == password for sure, so that the account file can be
// written without Prosody's stringprep.
func directWritable(user, password string) bool {
	if user == "" || password == "" {
		return false
	}
	for _, c := range user {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	for _, c := range password {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// iterationCount is mod_auth_internal_hashed's default_iteration_count.
const iterationCount = 10000

// writeAccount writes DATA/<host>/accounts/<user>.dat as Prosody 0.12's
// mod_auth_internal_hashed (via util.datamanager) does.
func (s *Server) writeAccount(user, password string) error {
	salt := rand.Text() // Prosody uses a UUID string; any string is fine.
	salted, err := pbkdf2.Key(sha1.New, password, []byte(salt), iterationCount, sha1.Size)
	if err != nil {
		return fmt.Errorf("prosody: register %s@%s: %w", user, s.domain, err)
	}
	clientKey := hmacSHA1(salted, "Client Key")
	storedKey := sha1.Sum(clientKey)
	serverKey := hmacSHA1(salted, "Server Key")
	data := fmt.Sprintf("return {\n\t[\"iteration_count\"] = %d;\n\t[\"server_key\"] = %q;\n\t[\"salt\"] = %q;\n\t[\"stored_key\"] = %q;\n};\n",
		iterationCount, hex.EncodeToString(serverKey), salt, hex.EncodeToString(storedKey[:]))

	dir := filepath.Join(s.dir, "data", datamanagerEncode(s.domain), "accounts")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("prosody: register %s@%s: %w", user, s.domain, err)
	}
	// Write and rename, so that a running server never reads half a file.
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("prosody: register %s@%s: %w", user, s.domain, err)
	}
	_, werr := f.WriteString(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o640)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("prosody: register %s@%s: %w", user, s.domain, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, datamanagerEncode(user)+".dat")); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("prosody: register %s@%s: %w", user, s.domain, err)
	}
	return nil
}

func hmacSHA1(key []byte, msg string) []byte {
	m := hmac.New(sha1.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// datamanagerEncode is util.datamanager's encode: every byte that is not an
// ASCII letter or digit becomes %xx.
func datamanagerEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

package ejabberd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xmppbg/xmppbg/internal/serverproc"
)

// APIError is an error answer of mod_http_api.
type APIError struct {
	Command    string
	HTTPStatus int
	// Code and Message are ejabberd's: {"status":"error","code":…,"message":…}.
	Code    int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("ejabberd: %s: HTTP %d: code %d: %s", e.Command, e.HTTPStatus, e.Code, e.Message)
}

// Call runs an ejabberd API command (the names and arguments of
// `ejabberdctl help`, e.g. "get_offline_count" with
// {"user": "alice", "server": "localhost"}) through mod_http_api and returns
// its JSON result. args is marshalled to a JSON object.
//
// Passwords in args travel in the request body only; they are not logged by
// the harness (ejabberd logs the command name and the caller's address).
func (s *Server) Call(ctx context.Context, command string, args any) (json.RawMessage, error) {
	body, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("ejabberd: %s: %w", command, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.APIAddr()+"/api/"+command, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("ejabberd: %s: %w", command, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ejabberd: %s: %w", command, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("ejabberd: %s: %w", command, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &APIError{Command: command, HTTPStatus: resp.StatusCode}
		var answer struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &answer) == nil {
			e.Code, e.Message = answer.Code, answer.Message
		} else {
			e.Message = serverproc.LastLines(string(data), 3)
		}
		return nil, e
	}
	return data, nil
}

// Register creates the account user@Domain with password, or sets the
// password of an existing one (the API's register, then change_password when
// the user exists). The server must be running. The password goes in a
// request body to the loopback API listener, not on a command line, and is
// never put in errors.
func (s *Server) Register(ctx context.Context, user, password string) error {
	if user == "" || password == "" {
		return fmt.Errorf("ejabberd: register %q: empty user or password", user)
	}
	_, err := s.Call(ctx, "register", map[string]string{"user": user, "host": s.domain, "password": password})
	var ae *APIError
	if errors.As(err, &ae) && strings.Contains(ae.Message, "already registered") {
		_, err = s.Call(ctx, "change_password", map[string]string{"user": user, "host": s.domain, "newpass": password})
	}
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), password, "********")
		return fmt.Errorf("ejabberd: register %s@%s: %s", user, s.domain, msg)
	}
	s.mu.Lock()
	s.lastWrite = time.Now()
	s.mu.Unlock()
	return nil
}

// RegisterMany registers all accounts (localpart -> password), a few at a
// time, overwriting the passwords of existing ones.
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
	for range min(4, len(accounts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				if err := s.Register(ctx, a.user, a.password); err != nil {
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
		errs = append(errs, fmt.Errorf("ejabberd: register accounts: %w", err))
	}
	return errors.Join(errs...)
}

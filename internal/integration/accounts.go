package integration

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Registrar is a server whose accounts its harness manages: a
// *prosody.Server or an *ejabberd.Server.
type Registrar interface {
	Endpoint
	// Register creates (or overwrites) user@Domain.
	Register(ctx context.Context, user, password string) error
	// RegisterMany registers the accounts of a map of users to passwords.
	RegisterMany(ctx context.Context, accounts map[string]string) error
}

// CheckAccounts checks a harness's account handling on s, started with
// bob (password "b0b pass!") and alice, who must not have the password
// "wrong": a login needs the right password and an existing user; Register
// creates carol (carol-pw), and registering her again with new-pw
// overwrites the password, so that only the new one works; RegisterMany
// registers names and passwords that stringprep changes (Dave: pässwörd,
// erin: erin-pw); and an invalid name's error does not show the password.
func CheckAccounts(t *testing.T, s Registrar) {
	t.Helper()
	MustLogin(t, s, "bob", "b0b pass!")
	if err := Login(s, "alice", "wrong"); err == nil {
		t.Error("login with a wrong password succeeded")
	}
	if err := Login(s, "nobody", "x"); err == nil {
		t.Error("login of an unknown user succeeded")
	}

	begin := time.Now()
	if err := s.Register(t.Context(), "carol", "carol-pw"); err != nil {
		t.Fatal(err)
	}
	t.Logf("Register: %v", time.Since(begin))
	MustLogin(t, s, "carol", "carol-pw")
	// Overwrite: the new password wins.
	if err := s.Register(t.Context(), "carol", "new-pw"); err != nil {
		t.Fatal(err)
	}
	MustLogin(t, s, "carol", "new-pw")
	if err := Login(s, "carol", "carol-pw"); err == nil {
		t.Error("the old password still works")
	}
	if err := s.RegisterMany(t.Context(), map[string]string{"Dave": "pässwörd", "erin": "erin-pw"}); err != nil {
		t.Fatal(err)
	}
	MustLogin(t, s, "dave", "pässwörd")
	MustLogin(t, s, "erin", "erin-pw")

	// The password never appears in errors.
	err := s.Register(t.Context(), "bad@name", "secret-password")
	if err == nil {
		t.Fatal("registering an invalid JID succeeded")
	}
	if strings.Contains(err.Error(), "secret-password") {
		t.Errorf("error leaks the password: %v", err)
	}
	t.Logf("invalid user: %v", err)
}

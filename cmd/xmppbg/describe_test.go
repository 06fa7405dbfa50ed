package main

import (
	"strings"
	"testing"

	"github.com/xmppbg/xmppbg/session"
)

// Each login failure is explained in words that point at its real cause.
func TestDescribeConnectError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		want, not []string
	}{
		{"bad password", &session.AuthError{Condition: "not-authorized"},
			[]string{"authentication as alice@example.org failed (not-authorized)", "check the JID and the password"}, nil},
		{"bad server signature", &session.AuthError{Condition: session.CondServerAuthFailed, Text: "sasl: server signature mismatch"},
			[]string{"could not prove", "may not be the real server", "the password is not the problem"}, []string{"check the JID and the password"}},
		{"no STARTTLS", &session.TLSError{Reason: "the server does not offer STARTTLS"},
			[]string{"no secure connection", "does not offer STARTTLS", "never continues without TLS"}, nil},
	}
	for _, tt := range tests {
		got := describeConnectError("alice@example.org", "example.org:5222", tt.err)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tt.name, got, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: %q says %q", tt.name, got, n)
			}
		}
	}
}

package session_test

import (
	"testing"

	"github.com/xmppbg/xmppbg/internal/leakcheck"
)

// TestMain fails the run when goroutines of the package or its tests (read
// loops, event goroutines, scripted servers) outlive the tests.
func TestMain(m *testing.M) { leakcheck.Main(m, "xmppbg/session") }

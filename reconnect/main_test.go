package reconnect_test

import (
	"testing"

	"github.com/xmppbg/xmppbg/internal/leakcheck"
)

// TestMain fails the run when goroutines of the package or its tests (the
// supervisor loop, its dispatcher, sessions it started) outlive the tests.
func TestMain(m *testing.M) { leakcheck.Main(m, "xmppbg/reconnect", "xmppbg/session.") }

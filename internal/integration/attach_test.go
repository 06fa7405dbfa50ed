package integration

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAttachedProsodyFromEnv(t *testing.T) {
	for _, k := range []string{EnvServer, EnvDomain, EnvCAFile, EnvHibernation, EnvProsodyctl} {
		t.Setenv(k, "")
	}
	if _, ok, err := attachedProsody(); ok || err != nil {
		t.Fatalf("without %s: ok %v err %v, want neither", EnvServer, ok, err)
	}
	t.Setenv(EnvServer, "127.0.0.1:5222")
	if _, _, err := attachedProsody(); err == nil || !strings.Contains(err.Error(), EnvCAFile) {
		t.Fatalf("without %s: %v", EnvCAFile, err)
	}
	t.Setenv(EnvCAFile, "testdata/compose.yaml") // any file: only its path is checked
	t.Setenv(EnvHibernation, "soon")
	if _, _, err := attachedProsody(); err == nil || !strings.Contains(err.Error(), EnvHibernation) {
		t.Fatalf("bad %s: %v", EnvHibernation, err)
	}
	t.Setenv(EnvHibernation, "7s")
	t.Setenv(EnvDomain, "example.test")
	r, ok, err := attachedProsody()
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	// The relative CA file is found from the module root.
	if r.Addr != "127.0.0.1:5222" || r.Domain != "example.test" || r.Hibernation != 7*time.Second ||
		!filepath.IsAbs(r.CAFile) || !strings.HasSuffix(r.CAFile, "testdata/compose.yaml") {
		t.Errorf("remote %+v", r)
	}
	if len(r.Prosodyctl) < 2 || r.Prosodyctl[0] != "docker" || !strings.HasSuffix(r.Prosodyctl[3], "testdata/compose.yaml") {
		t.Errorf("default prosodyctl %q", r.Prosodyctl)
	}
	t.Setenv(EnvProsodyctl, "sudo  prosodyctl ")
	if r, _, _ := attachedProsody(); !slices.Equal(r.Prosodyctl, []string{"sudo", "prosodyctl"}) {
		t.Errorf("prosodyctl %q", r.Prosodyctl)
	}
}

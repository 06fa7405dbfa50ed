package main

import (
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionString returns the program's version: the one set at build time
// with -ldflags "-X main.version=v1.2.3"; else the module's version in the
// build info ("go install github.com/xmppbg/xmppbg/cmd/xmppbg@v1.2.3" sets
// it); else, for a build from a checkout, "dev" and the commit it was built
// from ("dev-0123456789ab", "-dirty" with uncommitted changes); else "dev".
func versionString(set string, info *debug.BuildInfo, ok bool) string {
	if set != "" && set != "dev" {
		return set
	}
	if !ok || info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "dev-" + rev
	if dirty {
		v += "-dirty"
	}
	return v
}

// programVersion is versionString for this binary.
func programVersion() string {
	info, ok := debug.ReadBuildInfo()
	return versionString(version, info, ok)
}

// newCmdVersion returns the version command.
func newCmdVersion(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.started(); err != nil {
				return err
			}
			v := programVersion()
			g.Output().Event("version", "xmppbg "+v, F("version", v))
			return nil
		},
	}
}

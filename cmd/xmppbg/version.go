package main

import (
	"github.com/spf13/cobra"
)

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
			g.Output().Event("version", "xmppbg "+version, F("version", version))
			return nil
		},
	}
}

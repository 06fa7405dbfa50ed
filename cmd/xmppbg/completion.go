package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// completionShells are the shells "xmppbg completion" writes scripts for
// (cobra's).
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

// setupCompletion finishes the command tree for shell completion: the
// completion command refuses a shell it does not know (cobra's own would
// print its help and exit 0, so a script would not notice), and flags and
// arguments with a fixed set of values complete them.
func setupCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			want := strings.Join(completionShells, ", ")
			if len(args) == 0 {
				return usageErrorf("completion needs a shell: %s", want)
			}
			return usageErrorf("unsupported shell %q: want %s", sanitize(args[0]), want)
		}
	}

	fixed := func(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		}
	}
	_ = root.RegisterFlagCompletionFunc("log-level", fixed("debug", "info", "warn", "error"))
	for _, c := range root.Commands() {
		switch c.Name() {
		case "chat", "demo":
			if c.Flags().Lookup("bg-policy") != nil {
				_ = c.RegisterFlagCompletionFunc("bg-policy", fixed("hold", "detach", "close"))
			}
			if c.Name() == "demo" && c.ValidArgsFunction == nil {
				c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
					if len(args) > 0 {
						return nil, cobra.ShellCompDirectiveNoFileComp
					}
					// A bundled name, or a scenario file.
					return bundledNames(), cobra.ShellCompDirectiveDefault
				}
			}
		}
	}
}

package cli

import (
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what `tripin version` prints: the module version, the
// commit and build date the Go toolchain stamped into the binary, and the
// Go version.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"build_date"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// readVersion reads the binary's build information. A binary built
// outside a module or without version control has "(devel)" and
// "unknown" parts.
func readVersion() versionInfo {
	v := versionInfo{Version: "(devel)", Commit: "unknown", BuildDate: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.GoVersion = bi.GoVersion
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.BuildDate = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// versionLine is the one line of `tripin --version`.
func versionLine(v versionInfo) string {
	commit := v.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if v.Modified {
		commit += "+modified"
	}
	return fmt.Sprintf("tripin %s (commit %s, built %s, %s)", v.Version, commit, v.BuildDate, v.GoVersion)
}

func versionCommand(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print the version, commit, build date and Go version",
		Long:  "Print the version, the commit and build date stamped by the Go toolchain, and the Go version.",
		Example: "  # One line\n  tripin version\n\n" +
			"  # For scripts\n  tripin version --json",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := readVersion()
			if asJSON {
				return json.NewEncoder(env.Stdout).Encode(v)
			}
			_, err := fmt.Fprintln(env.Stdout, versionLine(v))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// docCommand finds `tripin …` command lines in a document: in code blocks
// and code spans, after a prompt, sudo or a path.
var docCommand = regexp.MustCompile("(?:^|[\\s`(/])tripin ((?:[a-z][a-z:-]*)(?: [^`|;&#>)]*)?)")

// TestDocumentedCommandsExist: every `tripin …` command line in the
// README and the guides names a command that exists, with flags it takes,
// so the operator's documents cannot drift from the binary.
func TestDocumentedCommandsExist(t *testing.T) {
	root := newRoot(&Env{})
	docs, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	docs = append(docs, "../../README.md", "../../deploy/README.md")
	checked := 0
	for _, doc := range docs {
		f, err := os.Open(doc)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			for _, m := range docCommand.FindAllStringSubmatch(sc.Text(), -1) {
				words := strings.Fields(m[1])
				if len(words) == 0 || strings.Contains(words[0], ".") {
					continue
				}
				cmd, rest, err := root.Find(words)
				require.NoError(t, err, "%s:%d: %q", doc, n, m[0])
				if cmd == root {
					// Prose such as "tripin runs …": a command starts
					// with a command's name.
					continue
				}
				if cmd.HasSubCommands() && !cmd.DisableFlagParsing { // a group: its word must name a command
					if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") && !strings.Contains(rest[0], "…") {
						t.Errorf("%s:%d: %q: no command %q under %q", doc, n, m[0], rest[0], cmd.CommandPath())
					}
					continue
				}
				for _, w := range rest {
					name, ok := strings.CutPrefix(w, "--")
					if !ok {
						continue
					}
					name, _, _ = strings.Cut(name, "=")
					name = strings.Trim(name, ".,'\"")
					if name == "" || name == "help" || strings.ContainsAny(name, "…[]") {
						continue
					}
					if cmd.Flags().Lookup(name) == nil {
						t.Errorf("%s:%d: %q: %s has no flag --%s", doc, n, m[0], cmd.CommandPath(), name)
					}
				}
				checked++
			}
		}
		require.NoError(t, sc.Err())
		f.Close()
	}
	require.Greater(t, checked, 100, "the documents' command lines were not found")
}

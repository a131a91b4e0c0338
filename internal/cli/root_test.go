package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

// runCLI runs the command line args as Main does, without .env, and
// returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &Env{Stdout: &stdout, Stderr: &stderr, EnvFile: filepath.Join(t.TempDir(), "none.env")}
	err := Run(context.Background(), env, args)
	env.closeAll()
	return exitCode(&stderr, err), stdout.String(), stderr.String()
}

// TestEveryCommandDescribesItsFlags: each command declares and parses its
// flags before it does anything else, so help and completion can list
// them; a command that read its configuration first would panic here.
func TestEveryCommandDescribesItsFlags(t *testing.T) {
	for _, c := range uniqueCommands() {
		fs, err := describeFlags(c)
		require.NoError(t, err, c.Name)
		require.NotNil(t, fs, c.Name)
	}
}

// TestHelp: `tripin X --help` and `tripin help X` exit 0 for every
// command and print its description, its usage, every flag with its
// default, and examples whose flags exist.
func TestHelp(t *testing.T) {
	for _, c := range uniqueCommands() {
		words := strings.Fields(c.Name)
		code, out, errOut := runCLI(t, append(append([]string{}, words...), "--help")...)
		require.Equal(t, 0, code, "%s --help: %s", c.Name, errOut)
		code2, out2, _ := runCLI(t, append([]string{"help"}, words...)...)
		require.Equal(t, 0, code2, "help %s", c.Name)
		require.Equal(t, out, out2, "help %s and %s --help differ", c.Name, c.Name)
		require.Contains(t, out, "Usage:\n  tripin "+c.Name, c.Name)
		require.Contains(t, out, c.Summary[1:], c.Name)
		require.Contains(t, out, "Examples:\n", "%s has no examples", c.Name)
		fs, err := describeFlags(c)
		require.NoError(t, err)
		fs.VisitAll(func(f *pflag.Flag) {
			require.Contains(t, out, "--"+f.Name, "%s: flag --%s missing from help", c.Name, f.Name)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
				require.Contains(t, out, f.DefValue, "%s: --%s's default missing from help", c.Name, f.Name)
			}
		})
		for _, line := range strings.Split(exampleText(c.Name), "\n") {
			line = strings.TrimSpace(line)
			i := strings.Index(line, "tripin ")
			if i < 0 || strings.HasPrefix(line, "#") {
				continue
			}
			for _, tok := range strings.Fields(line[i:]) {
				if name, ok := strings.CutPrefix(tok, "--"); ok {
					name, _, _ = strings.Cut(name, "=")
					require.NotNil(t, fs.Lookup(name), "%s: example %q uses an unknown flag --%s", c.Name, line, name)
				}
			}
		}
	}
	code, out, _ := runCLI(t)
	require.Equal(t, 0, code)
	require.Contains(t, out, "Available Commands:")
	require.Contains(t, out, "queue")
}

// TestUsageErrors: a mistyped command or flag exits 2 with one line, and
// a close spelling is suggested.
func TestUsageErrors(t *testing.T) {
	for args, want := range map[string]string{
		"quue work":                `tripin: unknown command "quue"; did you mean "queue"? Run 'tripin help' for the list.`,
		"queue wrk":                `tripin: unknown command "queue wrk"; did you mean "queue work"? Run 'tripin help queue' for the list.`,
		"frobnicate":               `tripin: unknown command "frobnicate". Run 'tripin help' for the list.`,
		"queue work --bogus":       `tripin: queue work: unknown flag: --bogus`,
		"queue:work --concurrency": `tripin: queue work: flag needs an argument: --concurrency`,
	} {
		code, _, errOut := runCLI(t, strings.Fields(args)...)
		require.Equal(t, 2, code, args)
		require.Equal(t, want+"\n", errOut, args)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version", "--json")
	require.Equal(t, 0, code)
	var v versionInfo
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.NotEmpty(t, v.Version)
	require.True(t, strings.HasPrefix(v.GoVersion, "go1."), v.GoVersion)
	code, line, _ := runCLI(t, "--version")
	require.Equal(t, 0, code)
	require.Equal(t, versionLine(v)+"\n", line)
	code, line, _ = runCLI(t, "version")
	require.Equal(t, 0, code)
	require.Equal(t, versionLine(v)+"\n", line)
}

// TestCompletion: the bash, zsh and fish scripts are printed, the bash
// one loads in bash without errors, and completion offers commands,
// their flags and the Laravel spellings.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := runCLI(t, "completion", shell)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "tripin", shell)
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		_, script, _ := runCLI(t, "completion", "bash")
		file := filepath.Join(t.TempDir(), "tripin.bash")
		require.NoError(t, os.WriteFile(file, []byte(script), 0o600))
		out, err := exec.Command(bash, "-c", "set -e; source "+file+"; complete -p tripin").CombinedOutput()
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "tripin")
	}
	_, out, _ := runCLI(t, "__complete", "qu")
	require.Contains(t, out, "queue")
	require.Contains(t, out, "queue:work")
	_, out, _ = runCLI(t, "__complete", "queue", "wo")
	require.Contains(t, out, "work")
	_, out, _ = runCLI(t, "__complete", "queue", "work", "--conc")
	require.Contains(t, out, "--concurrency")
	_, out, _ = runCLI(t, "__complete", "queue:work", "--stop")
	require.Contains(t, out, "--stop-when-empty")
}

func TestUsageArgs(t *testing.T) {
	for usage, want := range map[string]string{
		"[connection] [--queue emails,default] [--concurrency N]":                                       "[connection]",
		"KIND [--args JSON] [--queue Q]":                                                                "KIND",
		"--backend sqlite|mysql|pgsql|redis [--dsn DSN] [--concurrency N[,N…]] [--runs N]\n  [--stats]": "",
		"ID...|all [--queue Q]":                                                                         "ID...|all",
		"FILE [--force] [--json]":                                                                       "FILE",
		"--to DSN [--from DSN]":                                                                         "",
		"[--json | --workers]":                                                                          "",
		"[connection:]queue[,…] [--max N] [--json]":                                                     "[connection:]queue[,…]",
		"--print FILE   (print a matrix saved with --json as a table)":                                  "",
	} {
		require.Equal(t, want, usageArgs(usage), usage)
	}
}

// TestEveryCommandFileIsListed: a command file's commands reach the
// command line only through commandFiles; a file left out of it would
// compile and silently lose its commands.
func TestEveryCommandFileIsListed(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	declared := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				require.NotEqual(t, "init", fd.Name.Name, "%s: commands are listed in root.go, not registered from init", name)
			}
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, v := range spec.(*ast.ValueSpec).Values {
					if cl, ok := v.(*ast.CompositeLit); ok && types(cl.Type) == "[]*Command" {
						declared += len(cl.Elts)
					}
				}
			}
		}
	}
	require.Equal(t, declared, len(uniqueCommands()), "a []*Command in this package is missing from commandFiles")
}

// types renders a composite literal's type expression ([]*Command).
func types(e ast.Expr) string {
	at, ok := e.(*ast.ArrayType)
	if !ok {
		return ""
	}
	st, ok := at.Elt.(*ast.StarExpr)
	if !ok {
		return ""
	}
	id, ok := st.X.(*ast.Ident)
	if !ok {
		return ""
	}
	return "[]*" + id.Name
}

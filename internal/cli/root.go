package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// describeArg, among a command's arguments, makes parseFlags stop with
// errDescribed right after the command declared its flags.
const describeArg = "\x00describe"

var (
	errDescribed = errors.New("cli: flags described")
	// errHelp is what parseFlags returns for -h or --help: the command
	// prints its help and exits 0.
	errHelp = errors.New("cli: help requested")
)

// mustNotDescribe panics when a command reads its configuration or its
// database while it is being described: every command must declare and
// parse its flags before anything else.
func (e *Env) mustNotDescribe() {
	if e.describing {
		panic("cli: a command used its configuration before parsing its flags")
	}
}

// describeFlags returns the flags c declares, by running it up to its
// parseFlags (see Command.Run), with an Env that refuses any other use.
func describeFlags(c *Command) (*pflag.FlagSet, error) {
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, describing: true}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Run(ctx, env, []string{describeArg})
	if !errors.Is(err, errDescribed) || env.described == nil {
		return nil, fmt.Errorf("cli: %s does not parse its flags first (%v)", c.Name, err)
	}
	return env.described, nil
}

// newRoot builds the command tree: every registered command under its
// words ("queue work" is "work" under "queue"), its flags described for
// help and completion, and the Laravel spellings as hidden commands that
// run the same thing.
func newRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tripin",
		Short: "Tour bookings, payments and a durable job queue in one binary",
		Long: "tripin runs the Tripin tour-booking service: the HTTP API and dashboard (serve), the queue's\n" +
			"workers (queue work) and the scheduler (schedule work), and the operator's commands.\n" +
			"Laravel spellings (queue:work, schedule:list, migrate:status, …) are accepted too.",
		Example: "  # Run the API, the dashboard, a worker and the scheduler on the local SQLite database\n" +
			"  tripin serve\n\n" +
			"  # Check a deployment\n" +
			"  tripin doctor",
		Version:           versionLine(readVersion()),
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		// A mistyped first word gets a suggestion (cobra's "did you
		// mean"), turned into one line by unknownCommand.
		SuggestionsMinimumDistance: 2,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })

	byName := map[string]*cobra.Command{"": root}
	var aliases []string
	for _, c := range uniqueCommands() {
		parent := root
		words := strings.Fields(c.Name)
		for i := range words[:len(words)-1] {
			parent = groupCommand(byName, strings.Join(words[:i+1], " "))
		}
		leaf := leafCommand(env, c, words[len(words)-1])
		if existing, ok := byName[c.Name]; ok {
			// A group that is also a command ("migrate", "migrate
			// status"): the group takes the command's run and help.
			existing.Use, existing.Short, existing.Long, existing.Example = leaf.Use, leaf.Short, leaf.Long, leaf.Example
			existing.DisableFlagParsing, existing.RunE, existing.Args = true, leaf.RunE, nil
			existing.Flags().AddFlagSet(leaf.Flags())
			leaf = existing
		} else {
			parent.AddCommand(leaf)
			byName[c.Name] = leaf
		}
		for _, a := range c.Aliases {
			alias := leafCommand(env, c, a)
			alias.Hidden = true
			alias.Short = "same as tripin " + c.Name
			root.AddCommand(alias)
			aliases = append(aliases, a)
		}
	}
	root.AddCommand(versionCommand(env))
	// The Laravel spellings are hidden from the command list but offered
	// by the shell completion.
	sort.Strings(aliases)
	root.ValidArgsFunction = func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		if len(args) == 0 {
			for _, a := range aliases {
				if strings.HasPrefix(a, toComplete) {
					out = append(out, a)
				}
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(cmd, args[0])
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return root
}

// commandFiles lists the commands of every command file: the whole
// command line, in one place.
var commandFiles = [][]*Command{
	serveCommands, migrateCommands, seedCommands, userCommands, keyCommands, aboutCommands, doctorCommands,
	dbCopyCommands, dbBackupCommands, dbPruneCommands, bookingsExpireCommands, mailCommands,
	queueWorkCommands, queuePushCommands, queueRestartCommands, queueStatsCommands, queueMonitorCommands,
	queueFailedCommands, queueRetryCommands, queueForgetCommands, queuePruneCommands, queueClearCommands,
	queuePauseCommands, queueBatchesCommands, queueRetryBatchCommands, scheduleCommands,
	benchQueueCommands, benchBookingCommands, benchPruneCommands, benchWalCommands, benchFaultsCommands,
	benchServeCommands,
}

// uniqueCommands returns every command once, sorted by name. Two commands
// claiming one name or alias is a programming error.
func uniqueCommands() []*Command {
	names := map[string]bool{}
	var list []*Command
	for _, file := range commandFiles {
		for _, c := range file {
			for _, n := range append([]string{c.Name}, c.Aliases...) {
				if names[n] {
					panic("cli: duplicate command " + n)
				}
				names[n] = true
			}
			list = append(list, c)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// groupCommand returns the command that groups the commands named
// "name …" ("queue"), creating it on first use.
func groupCommand(byName map[string]*cobra.Command, name string) *cobra.Command {
	if g, ok := byName[name]; ok {
		return g
	}
	words := strings.Fields(name)
	parent := byName[strings.Join(words[:len(words)-1], " ")]
	short := groupSummaries[name]
	if short == "" {
		short = "the " + name + " commands"
	}
	g := &cobra.Command{
		Use:                        words[len(words)-1],
		Short:                      short,
		SuggestionsMinimumDistance: 2,
		// A group run with an unknown word suggests the closest command;
		// alone it prints its help.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	parent.AddCommand(g)
	byName[name] = g
	return g
}

// groupSummaries describe the command groups in the command list.
var groupSummaries = map[string]string{
	"bench":    "measure the queue, the booking API, pruning, the WAL and faults",
	"bookings": "booking maintenance: expire unpaid bookings",
	"db":       "copy, back up, prune and seed the database",
	"key":      "the application key that signs links",
	"mail":     "check the mail settings",
	"queue":    "work and operate the job queue: stats, failed jobs, pauses, batches",
	"schedule": "run and inspect the scheduler",
	"user":     "create accounts and change passwords",
}

// usageArgs keeps the positional part of a usage synopsis ("KIND",
// "[connection]", "ID...|all"): help lists the flags, with their
// defaults, below it. Bracketed groups may nest ("[--concurrency
// N[,N…]]"); a group or word that names a flag is left out, and so is the
// value after a bare flag ("--backend sqlite|mysql").
func usageArgs(usage string) string {
	var keep []string
	afterFlag := false
	for _, tok := range usageTokens(usage) {
		isFlag := strings.HasPrefix(tok, "-") || strings.HasPrefix(tok, "[-") || strings.HasPrefix(tok, "(")
		switch {
		case isFlag:
			afterFlag = strings.HasPrefix(tok, "--") && !strings.Contains(tok, "=")
		case afterFlag:
			afterFlag = false
		default:
			keep = append(keep, tok)
		}
	}
	return strings.Join(keep, " ")
}

// usageTokens splits a synopsis into words and whole bracketed groups.
func usageTokens(s string) []string {
	var out []string
	depth, start := 0, -1
	for i, r := range s {
		switch {
		case r == '[' || r == '(':
			if depth == 0 && start < 0 {
				start = i
			}
			depth++
		case r == ']' || r == ')':
			if depth > 0 {
				depth--
			}
		case depth == 0 && (r == ' ' || r == '\n' || r == '\t'):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// leafCommand is the cobra command that runs c under the name use. The
// command parses its own flags (cobra passes them through); the set it
// declares is added for help and completion.
func leafCommand(env *Env, c *Command, use string) *cobra.Command {
	long := c.Long
	if long == "" {
		long = strings.ToUpper(c.Summary[:1]) + c.Summary[1:] + "."
	}
	example := c.Example
	if example == "" {
		example = exampleText(c.Name)
	}
	cmd := &cobra.Command{
		Use:                strings.TrimSpace(use + " " + usageArgs(c.Usage)),
		Short:              c.Summary,
		Long:               long,
		Example:            example,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			err := c.Run(cmd.Context(), env, args)
			if errors.Is(err, errHelp) {
				return cmd.Help()
			}
			return err
		},
	}
	if fs, err := describeFlags(c); err == nil {
		cmd.Flags().AddFlagSet(fs)
	}
	return cmd
}

// unknownCommand is the one-line usage error for a word that names no
// command under cmd, with the closest spellings.
func unknownCommand(cmd *cobra.Command, word string) error {
	where := strings.TrimSpace(strings.TrimPrefix(cmd.CommandPath(), "tripin"))
	name := strings.TrimSpace(where + " " + word)
	msg := fmt.Sprintf("unknown command %q", name)
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		for i := range s {
			s[i] = fmt.Sprintf("%q", strings.TrimSpace(where+" "+s[i]))
		}
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	} else {
		msg += "."
	}
	help := "tripin help"
	if where != "" {
		help += " " + where
	}
	return usagef("%s Run '%s' for the list.", msg, help)
}

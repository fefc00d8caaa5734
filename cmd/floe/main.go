// Command floe is the Floe mail server and its administration tool.
//
//	floe serve [--config FILE]
//	floe account add|passwd|del|list ...
//	floe domain add|del|list ...
//	floe alias add|del|list ...
//	floe rules list|add|del|move|export|import|test|cert ACCOUNT ...
//	floe quarantine list|show|release|delete ...
//	floe smartattach list|revoke|purge ...
//	floe hash-password | check-config | check | version
//
// Every subcommand takes --config FILE; without it, the embedded development
// configuration is used (data in ./data), so the CLI run next to a
// development "floe serve" works on the same database. Exit codes: 0 ok,
// 1 operational error, 2 usage error.
//
// This package is wiring only: flags, dispatch, signals and messages; the
// logic lives in package server and below.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/floemail/floe/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args (without the program name) and returns
// the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, notify: notifySignals}
	if len(os.Args) > 0 {
		a.argv0 = os.Args[0]
	}
	a.exe, _ = os.Executable()
	return a.run(args)
}

// app is one invocation of the CLI: its standard streams and, for tests,
// hooks into serve.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// notify subscribes c to the signals serve handles and returns a func
	// that unsubscribes.
	notify func(c chan<- os.Signal) (stop func())
	// started, when set, is called by serve once the server runs.
	started func(*server.Server)
	// argv0 and exe are how the program was invoked and where its binary
	// is (for the hint serve prints).
	argv0, exe string
}

func notifySignals(c chan<- os.Signal) func() {
	signal.Notify(c, serveSignals...)
	return func() { signal.Stop(c) }
}

// usageError is a command-line mistake: it is printed with a hint and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// command is one subcommand.
type command struct {
	name    string // "account add"
	args    string // synopsis of the arguments
	summary string
	run     func(a *app, c *cmdCtx) error
	flags   func(fs *flag.FlagSet, c *cmdCtx)
	nargs   int // exact number of positional arguments, -1 for any
	// creates: the command may create the data directory and database
	// when none exists yet (adding things); every other command refuses
	// to run where there is no database (common.go, needData).
	creates bool
}

// cmdCtx holds the parsed flags and arguments of one command.
type cmdCtx struct {
	cmd           *command
	args          []string
	configFile    string
	passwordStdin bool
	quota         string
	quotaMessages int64
	name          string // account add --name
	catchAll      string
	repair        bool             // check --repair
	dkim          dkimFlags        // dkim.go
	rules         rulesFlags       // rules.go
	sharing       sharingFlags     // group.go
	license       licenseFlags     // license.go
	smartattach   smartattachFlags // smartattach.go
}

var commands []*command

func init() {
	commands = []*command{
		{name: "serve", summary: "run the mail server", run: (*app).serve, nargs: 0},
		{name: "account add", args: "ADDRESS [--name NAME] [--password-stdin] [--quota SIZE] [--quota-messages N]",
			summary: "create an account (asks for the password, or reads it from stdin)", run: (*app).accountAdd, nargs: 1, creates: true,
			flags: func(fs *flag.FlagSet, c *cmdCtx) {
				passwordFlag(fs, c)
				fs.StringVar(&c.name, "name", "", `display name, e.g. "Jane Doe" (the Global Address Book shows it)`)
				fs.StringVar(&c.quota, "quota", "", `storage quota, e.g. "2GiB" or "500MB" (default unlimited)`)
				fs.Int64Var(&c.quotaMessages, "quota-messages", 0, "maximum number of messages (default unlimited)")
			}},
		{name: "account passwd", args: "ADDRESS [--password-stdin]", summary: "set an account's password",
			run: (*app).accountPasswd, nargs: 1, flags: passwordFlag},
		{name: "account name", args: "ADDRESS NAME", summary: `set an account's display name ("" removes it)`,
			run: (*app).accountName, nargs: 2},
		{name: "account del", args: "ADDRESS", summary: "delete an account with all its mail (no question asked)",
			run: (*app).accountDel, nargs: 1},
		{name: "account list", summary: "list accounts with quota, usage and source", run: (*app).accountList, nargs: 0},
		{name: "domain add", args: "NAME [--catch-all ADDRESS]", summary: "add a local domain (or change its catch-all)",
			run: (*app).domainAdd, nargs: 1, creates: true, flags: func(fs *flag.FlagSet, c *cmdCtx) {
				fs.StringVar(&c.catchAll, "catch-all", "", "account that receives mail for unknown addresses of the domain")
			}},
		{name: "domain del", args: "NAME", summary: "delete a domain that has no accounts", run: (*app).domainDel, nargs: 1},
		{name: "domain list", summary: "list domains", run: (*app).domainList, nargs: 0},
		{name: "alias add", args: "ALIAS TARGET", summary: "deliver mail for ALIAS to the account TARGET",
			run: (*app).aliasAdd, nargs: 2, creates: true},
		{name: "alias del", args: "ALIAS", summary: "delete an alias", run: (*app).aliasDel, nargs: 1},
		{name: "alias list", summary: "list aliases", run: (*app).aliasList, nargs: 0},
		{name: "hash-password", args: "[--password-stdin]", summary: "print an argon2id hash for the config file",
			run: (*app).hashPassword, nargs: 0, flags: passwordFlag},
		{name: "check-config", args: "[FILE]", summary: "check a config file; prints every problem as file:line: reason",
			run: (*app).checkConfig, nargs: -1},
		{name: "check", args: "[--repair]", summary: "verify the store (blobs, counters)", run: (*app).check, nargs: 0,
			flags: func(fs *flag.FlagSet, c *cmdCtx) {
				fs.BoolVar(&c.repair, "repair", false, "first remove orphan blob files (referenced by nothing, older than an hour)")
			}},
		{name: "version", summary: "print the version", run: (*app).version, nargs: 0},
	}
	commands = append(commands, dkimCommands()...)        // dkim.go, dns.go
	commands = append(commands, queueCommands()...)       // queue.go
	commands = append(commands, rulesCommands()...)       // rules.go
	commands = append(commands, quarantineCommands()...)  // quarantine.go
	commands = append(commands, sharingCommands()...)     // group.go, share.go, sendas.go
	commands = append(commands, licenseCommands()...)     // license.go
	commands = append(commands, smartattachCommands()...) // smartattach.go
}

func passwordFlag(fs *flag.FlagSet, c *cmdCtx) {
	fs.BoolVar(&c.passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
}

func (a *app) run(args []string) int {
	args = moveGlobalFlags(args)
	if len(args) == 0 {
		a.topUsage(a.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return a.run(append(args[1:], "--help"))
		}
		a.topUsage(a.stdout)
		return exitOK
	}
	// Find the command: the longest run of leading words naming one
	// ("version", "account add", "group member add").
	for n := min(len(args), maxCommandWords); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		for _, c := range commands {
			if c.name == name {
				return a.exec(c, args[n:])
			}
		}
	}
	// Else the longest run naming a group of commands gets the group's
	// usage ("floe group", "floe group member").
	for n := min(len(args), maxCommandWords-1); n >= 1; n-- {
		group := strings.Join(args[:n], " ")
		var members []*command
		for _, c := range commands {
			if strings.HasPrefix(c.name, group+" ") {
				members = append(members, c)
			}
		}
		if len(members) == 0 {
			continue
		}
		if len(args) == n || isHelp(args[n]) {
			w, code := a.stderr, exitUsage
			if len(args) > n {
				w, code = a.stdout, exitOK
			}
			groupUsage(w, group, members)
			return code
		}
		fmt.Fprintf(a.stderr, "floe: unknown command \"%s %s\"\n", group, args[n])
		groupUsage(a.stderr, group, members)
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "floe: unknown command %q; run \"floe --help\" for the list\n", args[0])
	return exitUsage
}

// maxCommandWords is the most words a command name has ("group member add").
const maxCommandWords = 3

// moveGlobalFlags moves a --config FILE (or --config=FILE, -config) given
// before the command to after it, so that "floe --config F account list"
// works like "floe account list --config F".
func moveGlobalFlags(args []string) []string {
	var global []string
	for len(args) > 0 {
		a := args[0]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			break
		}
		if hasValue {
			global, args = append(global, a), args[1:]
			continue
		}
		if len(args) < 2 {
			break // "floe --config": the parser reports the missing value
		}
		global, args = append(global, a, args[1]), args[2:]
	}
	if len(global) == 0 {
		return args
	}
	return append(append([]string(nil), args...), global...)
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" || s == "help" }

// exec parses the flags of cmd (anywhere among the arguments) and runs it.
func (a *app) exec(cmd *command, args []string) int {
	c := &cmdCtx{cmd: cmd}
	fs := flag.NewFlagSet("floe "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.configFile, "config", "", "config file (default: the built-in development config, data in ./data)")
	if cmd.flags != nil {
		cmd.flags(fs, c)
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				commandUsage(a.stdout, cmd, fs)
				return exitOK
			}
			fmt.Fprintf(a.stderr, "floe %s: %v\n", cmd.name, err)
			commandUsage(a.stderr, cmd, fs)
			return exitUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if cmd.nargs >= 0 && len(positional) != cmd.nargs {
		switch {
		case len(positional) < cmd.nargs:
			fmt.Fprintf(a.stderr, "floe %s: missing argument\n", cmd.name)
		default:
			fmt.Fprintf(a.stderr, "floe %s: unexpected argument %q\n", cmd.name, positional[cmd.nargs])
		}
		commandUsage(a.stderr, cmd, fs)
		return exitUsage
	}
	c.args = positional
	err := cmd.run(a, c)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "floe %s: %s\n", cmd.name, ue.msg)
		fmt.Fprintf(a.stderr, "run \"floe %s --help\" for usage\n", cmd.name)
		return exitUsage
	}
	var ex exitCode
	if errors.As(err, &ex) {
		return int(ex)
	}
	fmt.Fprintf(a.stderr, "floe %s: %v\n", cmd.name, err)
	return exitError
}

// exitCode ends a command with that code after it printed its own messages.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func (a *app) topUsage(w io.Writer) {
	fmt.Fprint(w, `floe: the Floe groupware mail server

Usage: floe COMMAND [ARGS] [--config FILE]
       floe --config FILE COMMAND [ARGS]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Without --config, commands use the built-in development config: listeners on
127.0.0.1, data in ./data, domain example.test.
Run "floe COMMAND --help" for the options of a command.
`)
}

func groupUsage(w io.Writer, group string, members []*command) {
	fmt.Fprintf(w, "Usage: floe %s SUBCOMMAND ...\n\nSubcommands:\n", group)
	for _, c := range members {
		fmt.Fprintf(w, "  floe %s %s\n      %s\n", c.name, c.args, c.summary)
	}
}

func commandUsage(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: floe %s %s\n\n%s.\n\nOptions:\n", cmd.name, cmd.args, upperFirst(cmd.summary))
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			name = " " + name
		}
		fmt.Fprintf(w, "  --%s%s\n      %s\n", f.Name, name, usage)
	})
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

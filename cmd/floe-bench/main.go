// Command floe-bench is Floe's load tool. It measures, on the machine it runs
// on, how fast Floe accepts mail and how that compares with two baselines:
// a protocol-only SMTP sink that discards everything (no durability), and the
// raw rate at which the disk writes and fsyncs small files.
//
// Usage:
//
//	floe-bench smtp  -addr 127.0.0.1:2525 -to user@example.test[,...] [-c 20] [-n 2000] [-size 5120]
//	                 [-auth user:pass] [-starttls | -tls] [-lmtp] [-label floe]
//	floe-bench sink  [-listen 127.0.0.1:2526]   serve a discarding SMTP sink until SIGINT/SIGTERM
//	floe-bench sink  [-c 20] [-n 2000] [-size 5120] run the smtp load against an in-process sink
//	floe-bench fsync [-dir DIR] [-c 20] [-n 2000] [-size 5120] [-dirsync]
//	floe-bench ports [-n 1]   print loopback ports that are free now (for scripts)
//	floe-bench imap|imap-bigmailbox|imap-idle|imap-conns ...   IMAP load (see imap.go)
//	floe-bench imap-share-setup|imap-list ...                 sharing load (see sharing.go)
//
// Every run prints one line, for example:
//
//	smtp floe    c=20 size=5120 n=2000  msgs/s=1234.5  p50=12.3ms p90=15.0ms p99=20.1ms max=31.2ms  errors=0
//
// The latency of a message is the time from the end of its DATA (the final
// "." line) to the server's 250 reply: for a durable server, the time it takes
// to make the message safe. The exit status is 1 when any message failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: floe-bench smtp|sink|fsync|ports|imap|imap-bigmailbox|imap-idle|imap-conns|imap-share-setup|imap-list|davdir [flags]   (floe-bench MODE -h for flags)`

// run executes one floe-bench command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "smtp":
		err = runSMTP(ctx, args[1:], stdout, stderr)
	case "sink":
		err = runSink(ctx, args[1:], stdout, stderr)
	case "fsync":
		err = runFsync(ctx, args[1:], stdout, stderr)
	case "ports":
		err = runPorts(args[1:], stdout, stderr)
	case "imap":
		err = runIMAPMix(ctx, args[1:], stdout, stderr)
	case "imap-bigmailbox":
		err = runIMAPBig(ctx, args[1:], stdout, stderr)
	case "imap-idle":
		err = runIMAPIdle(ctx, args[1:], stdout, stderr)
	case "imap-conns":
		err = runIMAPConns(ctx, args[1:], stdout, stderr)
	case "imap-share-setup":
		err = runIMAPShareSetup(ctx, args[1:], stdout, stderr)
	case "imap-list":
		err = runIMAPList(ctx, args[1:], stdout, stderr)
	case "davdir":
		err = runDavDir(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "floe-bench: unknown mode %q\n%s\n", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "floe-bench %s: %v\n", args[0], err)
		return 1
	}
}

// errUsage marks a command-line error already reported by the flag package.
var errUsage = errors.New("usage error")

// loadFlags are the flags shared by the smtp and sink modes.
type loadFlags struct {
	cfg  loadConfig
	to   string
	auth string
}

func (f *loadFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.cfg.Conns, "c", 20, "concurrent connections")
	fs.IntVar(&f.cfg.N, "n", 2000, "messages to send in total")
	fs.IntVar(&f.cfg.Size, "size", 5120, "message size in bytes (header included)")
	fs.StringVar(&f.to, "to", "user@example.test", "comma-separated recipients, used round-robin")
	fs.StringVar(&f.cfg.From, "from", "bench@bench.invalid", "envelope sender")
	fs.IntVar(&f.cfg.PerConn, "per-conn", 0, "messages per connection before reconnecting (0: unlimited)")
	fs.DurationVar(&f.cfg.Timeout, "timeout", 60*time.Second, "timeout of one SMTP command")
	fs.StringVar(&f.auth, "auth", "", "authenticate with AUTH PLAIN as user:pass")
	fs.BoolVar(&f.cfg.StartTLS, "starttls", false, "use STARTTLS (certificate not verified)")
	fs.BoolVar(&f.cfg.TLS, "tls", false, "use implicit TLS (certificate not verified)")
	fs.BoolVar(&f.cfg.LMTP, "lmtp", false, "speak LMTP (LHLO, one reply per recipient after DATA)")
	fs.BoolVar(&f.cfg.Verbose, "v", false, "print each error")
}

func (f *loadFlags) finish() error {
	for _, a := range strings.Split(f.to, ",") {
		if a = strings.TrimSpace(a); a != "" {
			f.cfg.To = append(f.cfg.To, a)
		}
	}
	if len(f.cfg.To) == 0 {
		return fmt.Errorf("-to: no recipient")
	}
	if f.auth != "" {
		user, pass, ok := strings.Cut(f.auth, ":")
		if !ok {
			return fmt.Errorf("-auth: want user:pass")
		}
		f.cfg.User, f.cfg.Pass = user, pass
	}
	if f.cfg.Conns < 1 || f.cfg.N < 1 {
		return fmt.Errorf("-c and -n must be at least 1")
	}
	if f.cfg.Size < 256 {
		f.cfg.Size = 256
	}
	return nil
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	return nil
}

func runSMTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench smtp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf loadFlags
	lf.register(fs)
	fs.StringVar(&lf.cfg.Addr, "addr", "127.0.0.1:2525", "server address host:port")
	label := fs.String("label", "floe", "name of the system under test in the output line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := lf.finish(); err != nil {
		return err
	}
	lf.cfg.Errors = stderr
	res, err := runLoad(ctx, lf.cfg)
	if err != nil {
		return err
	}
	proto := "smtp"
	if lf.cfg.LMTP {
		proto = "lmtp"
	}
	fmt.Fprintln(stdout, res.line(proto, *label, lf.cfg.Conns, lf.cfg.Size))
	if res.Errors > 0 {
		return fmt.Errorf("%d of %d messages failed", res.Errors, lf.cfg.N)
	}
	return nil
}

// runPorts prints n loopback TCP ports that were free a moment ago, one per
// line, for scripts that write a config.
func runPorts(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench ports", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1, "how many ports")
	if err := parse(fs, args); err != nil {
		return err
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range *n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Fprintln(stdout, l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

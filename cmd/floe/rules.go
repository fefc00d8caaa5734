package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/delivery"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// rulesFlags are the options of `floe rules ...`.
type rulesFlags struct {
	format string // export: toml or json
	from   string // test: envelope sender
	ip     string // test: client IP
	rcpt   string // test: envelope recipient (default the account)
	auth   string // test: SMTP AUTH user
	helo   string // test: HELO name
	rdns   string // test: the client's PTR name
}

// rulesCommands are `floe rules ...`: an account's rules, forwarder and
// responder stored in the database (the same schema as [[rules]] in the
// config file). A running server applies changes to the next message.
func rulesCommands() []*command {
	format := func(fs *flag.FlagSet, c *cmdCtx) {
		fs.StringVar(&c.rules.format, "format", "toml", "toml or json")
	}
	return []*command{
		{name: "rules list", args: "ACCOUNT", summary: "list the rules that apply to an account (config file and database), its forwarder and responder",
			run: (*app).rulesList, nargs: 1},
		{name: "rules add", args: "ACCOUNT < RULES", summary: "append the [[rules]] of a TOML or JSON document read from stdin to the account's rules",
			run: (*app).rulesAdd, nargs: 1},
		{name: "rules del", args: "ACCOUNT N", summary: "delete the account's rule number N (as \"floe rules list\" numbers them)",
			run: (*app).rulesDel, nargs: 2},
		{name: "rules move", args: "ACCOUNT N M", summary: "move the account's rule number N to position M",
			run: (*app).rulesMove, nargs: 3},
		{name: "rules export", args: "ACCOUNT [--format toml|json]", summary: "print the account's rules, forwarder and responder as a document",
			run: (*app).rulesExport, nargs: 1, flags: format},
		{name: "rules import", args: "ACCOUNT < DOCUMENT", summary: "replace the account's rules, forwarder and responder with a TOML or JSON document read from stdin",
			run: (*app).rulesImport, nargs: 1},
		{name: "rules test", args: "ACCOUNT < message.eml [--from ADDR] [--ip IP] [--rdns NAME] [--rcpt ADDR] [--auth USER]",
			summary: "show which rules match a message and what would happen, changing nothing", run: (*app).rulesTest, nargs: 1,
			flags: func(fs *flag.FlagSet, c *cmdCtx) {
				fs.StringVar(&c.rules.from, "from", "sender@remote.example", "envelope sender (MAIL FROM); \"\" for the null sender")
				fs.StringVar(&c.rules.ip, "ip", "192.0.2.1", "IP address of the sending client")
				fs.StringVar(&c.rules.rcpt, "rcpt", "", "envelope recipient (default: the account), e.g. user+Folder@domain")
				fs.StringVar(&c.rules.auth, "auth", "", "SMTP AUTH identity (default: none)")
				fs.StringVar(&c.rules.helo, "helo", "client.remote.example", "HELO name")
				fs.StringVar(&c.rules.rdns, "rdns", "", "the client's rDNS (PTR) name for rdns conditions (default: none)")
			}},
		{name: "rules cert", args: "ACCOUNT CERT.PEM", summary: "store the account's S/MIME certificate (for the encrypt action)",
			run: (*app).rulesCert, nargs: 2},
	}
}

// maxDocInput bounds a document read from stdin.
const maxDocInput = rules.MaxDocument

// accountRules opens the store and finds the account.
func (a *app) accountRules(c *cmdCtx, fn func(ctx context.Context, cfg *config.Config, st storage.Store, acct storage.Account) error) error {
	addr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		acct, err := st.Account(ctx, addr)
		if err != nil {
			return storeErr(cfg, addr, err)
		}
		return fn(ctx, cfg, st, acct)
	})
}

// storedSettings returns the account's database document, parsed.
func storedSettings(ctx context.Context, st storage.Store, acct storage.AccountID) (*rules.Settings, error) {
	doc, err := st.AccountRules(ctx, acct)
	if errors.Is(err, storage.ErrNotFound) {
		return &rules.Settings{}, nil
	}
	if err != nil {
		return nil, err
	}
	s, _, err := rules.Parse("stored rules", doc)
	return s, err
}

// saveSettings checks s (compiles it) and stores it as JSON.
func saveSettings(ctx context.Context, st storage.Store, acct storage.AccountID, s *rules.Settings, src rules.Source) error {
	if _, err := rules.Compile(s, src, rules.Options{AllowFiles: true}); err != nil {
		return err
	}
	if len(s.Rules) == 0 && s.Forwarder == nil && s.Responder == nil {
		return st.SetAccountRules(ctx, acct, nil)
	}
	doc, err := rules.MarshalJSON(s)
	if err != nil {
		return err
	}
	return st.SetAccountRules(ctx, acct, doc)
}

// readDocument reads and parses a TOML or JSON document from stdin.
func (a *app) readDocument() (*rules.Settings, rules.Source, error) {
	data, err := io.ReadAll(io.LimitReader(a.stdin, maxDocInput+1))
	if err != nil {
		return nil, rules.Source{}, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, rules.Source{}, usagef("no document on standard input")
	}
	return rules.Parse("<stdin>", data)
}

// printRuleErrors prints each problem of a rule document on its own line.
func (a *app) printRuleErrors(err error) error {
	var es *rules.Errors
	if errors.As(err, &es) {
		for _, e := range es.List {
			fmt.Fprintln(a.stderr, e.Error())
		}
		return exitCode(exitError)
	}
	return err
}

func describeRule(i int, r rules.Rule) string {
	title := r.Title
	if title == "" {
		title = "(untitled)"
	}
	state := ""
	if !r.IsActive() {
		state = " [inactive]"
	}
	var conds, acts []string
	for _, c := range r.Conditions {
		s := c.If
		if c.Not {
			s = "not " + s
		}
		for _, kv := range [][2]string{{"contains", c.Contains}, {"regex", c.Regex}, {"starts_with", c.StartsWith},
			{"ends_with", c.EndsWith}, {"equals", c.Equals}, {"file", c.File}, {"header", c.Header}, {"is", c.Is}} {
			if kv[1] != "" {
				s += " " + kv[0] + " " + strconv.Quote(kv[1])
			}
		}
		conds = append(conds, s)
	}
	for _, x := range r.Actions {
		s := x.Do
		for _, v := range []string{x.Folder, x.To, x.Header, x.Priority} {
			if v != "" {
				s += " " + strconv.Quote(v)
			}
		}
		acts = append(acts, s)
	}
	return fmt.Sprintf("%3d  %s%s\n     if %s\n     do %s\n", i, title, state, strings.Join(conds, " and "), strings.Join(acts, ", "))
}

func (a *app) rulesList(c *cmdCtx) error {
	return a.accountRules(c, func(ctx context.Context, cfg *config.Config, st storage.Store, acct storage.Account) error {
		_, domain, _ := strings.Cut(acct.Address, "@")
		section := func(name string, rs []rules.Rule) {
			if len(rs) == 0 {
				return
			}
			fmt.Fprintf(a.stdout, "%s (read-only here):\n", name)
			for i, r := range rs {
				fmt.Fprint(a.stdout, describeRule(i+1, r))
			}
		}
		var server, dom, acc []rules.Rule
		for _, r := range cfg.Rules {
			switch strings.ToLower(r.Scope) {
			case "":
				server = append(server, r)
			case domain:
				dom = append(dom, r)
			case acct.Address:
				acc = append(acc, r)
			}
		}
		for _, d := range cfg.Domains {
			if strings.EqualFold(d.Name, domain) {
				dom = append(dom, d.Rules...)
			}
		}
		var cfgFwd *rules.Forwarder
		var cfgResp *rules.Responder
		for _, x := range cfg.Accounts {
			if strings.EqualFold(x.Address, acct.Address) {
				acc = append(acc, x.Rules...)
				cfgFwd, cfgResp = x.Forwarder, x.Responder
			}
		}
		section("Server rules ("+configName(cfg)+")", server)
		section("Domain rules of "+domain+" ("+configName(cfg)+")", dom)
		section("Account rules ("+configName(cfg)+")", acc)
		s, err := storedSettings(ctx, st, acct.ID)
		if err != nil {
			return err
		}
		if len(s.Rules) == 0 {
			fmt.Fprintln(a.stdout, "Account rules (database): none")
		} else {
			fmt.Fprintln(a.stdout, "Account rules (database; numbers for del and move):")
			for i, r := range s.Rules {
				fmt.Fprint(a.stdout, describeRule(i+1, r))
			}
		}
		fwd, resp := cfgFwd, cfgResp
		if s.Forwarder != nil {
			fwd = s.Forwarder
		}
		if s.Responder != nil {
			resp = s.Responder
		}
		if fwd != nil {
			fmt.Fprintf(a.stdout, "Forwarder: to %s, keep a copy: %v\n", strings.Join(fwd.To, ", "), fwd.KeepCopy)
		}
		if resp != nil {
			fmt.Fprintf(a.stdout, "Responder: mode %s", resp.Mode)
			if resp.FromDate != "" || resp.ToDate != "" {
				fmt.Fprintf(a.stdout, ", from %s to %s", orAny(resp.FromDate), orAny(resp.ToDate))
			}
			fmt.Fprintln(a.stdout)
		}
		return nil
	})
}

func orAny(s string) string {
	if s == "" {
		return "(open)"
	}
	return s
}

func (a *app) rulesAdd(c *cmdCtx) error {
	add, src, err := a.readDocument()
	if err != nil {
		return a.printRuleErrors(err)
	}
	if len(add.Rules) == 0 || add.Forwarder != nil || add.Responder != nil {
		return usagef("the document must hold [[rules]] tables only (use \"floe rules import\" for a forwarder or responder)")
	}
	if _, err := rules.Compile(add, src, rules.Options{AllowFiles: true, AccountDocument: true}); err != nil {
		return a.printRuleErrors(err)
	}
	return a.accountRules(c, func(ctx context.Context, cfg *config.Config, st storage.Store, acct storage.Account) error {
		s, err := storedSettings(ctx, st, acct.ID)
		if err != nil {
			return err
		}
		s.Rules = append(s.Rules, add.Rules...)
		if err := saveSettings(ctx, st, acct.ID, s, rules.Source{File: "<stdin>"}); err != nil {
			return a.printRuleErrors(err)
		}
		fmt.Fprintf(a.stdout, "Added %d rule(s) to %s; it has %d rule(s) in the database.\n", len(add.Rules), acct.Address, len(s.Rules))
		return nil
	})
}

func ruleNumber(s string, n int) (int, error) {
	i, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || i < 1 || i > n {
		return 0, usagef("%q is not a rule number (1 to %d); \"floe rules list\" numbers them", s, n)
	}
	return i - 1, nil
}

func (a *app) rulesDel(c *cmdCtx) error {
	return a.accountRules(c, func(ctx context.Context, cfg *config.Config, st storage.Store, acct storage.Account) error {
		s, err := storedSettings(ctx, st, acct.ID)
		if err != nil {
			return err
		}
		i, err := ruleNumber(c.args[1], len(s.Rules))
		if err != nil {
			return err
		}
		title := s.Rules[i].Title
		s.Rules = append(s.Rules[:i], s.Rules[i+1:]...)
		if err := saveSettings(ctx, st, acct.ID, s, rules.Source{}); err != nil {
			return a.printRuleErrors(err)
		}
		fmt.Fprintf(a.stdout, "Deleted rule %d %q of %s.\n", i+1, title, acct.Address)
		return nil
	})
}

func (a *app) rulesMove(c *cmdCtx) error {
	return a.accountRules(c, func(ctx context.Context, cfg *config.Config, st storage.Store, acct storage.Account) error {
		s, err := storedSettings(ctx, st, acct.ID)
		if err != nil {
			return err
		}
		from, err := ruleNumber(c.args[1], len(s.Rules))
		if err != nil {
			return err
		}
		to, err := ruleNumber(c.args[2], len(s.Rules))
		if err != nil {
			return err
		}
		r := s.Rules[from]
		s.Rules = append(s.Rules[:from], s.Rules[from+1:]...)
		s.Rules = append(s.Rules[:to], append([]rules.Rule{r}, s.Rules[to:]...)...)
		if err := saveSettings(ctx, st, acct.ID, s, rules.Source{}); err != nil {
			return a.printRuleErrors(err)
		}
		fmt.Fprintf(a.stdout, "Moved rule %q of %s to position %d.\n", r.Title, acct.Address, to+1)
		return nil
	})
}

func (a *app) rulesExport(c *cmdCtx) error {
	if c.rules.format != "toml" && c.rules.format != "json" {
		return usagef("--format must be toml or json")
	}
	return a.accountRules(c, func(ctx context.Context, cfg *config.Config, st storage.Store, acct storage.Account) error {
		s, err := storedSettings(ctx, st, acct.ID)
		if err != nil {
			return err
		}
		var out []byte
		if c.rules.format == "json" {
			out, err = rules.MarshalJSON(s)
		} else {
			out, err = rules.MarshalTOML(s)
		}
		if err != nil {
			return err
		}
		_, err = a.stdout.Write(out)
		return err
	})
}

func (a *app) rulesImport(c *cmdCtx) error {
	s, src, err := a.readDocument()
	if err != nil {
		return a.printRuleErrors(err)
	}
	if _, err := rules.Compile(s, src, rules.Options{AllowFiles: true, AccountDocument: true}); err != nil {
		return a.printRuleErrors(err)
	}
	return a.accountRules(c, func(ctx context.Context, cfg *config.Config, st storage.Store, acct storage.Account) error {
		old, err := storedSettings(ctx, st, acct.ID)
		if err != nil {
			return err
		}
		if err := saveSettings(ctx, st, acct.ID, s, src); err != nil {
			return a.printRuleErrors(err)
		}
		// A changed responder answers every sender anew.
		oj, _ := rules.MarshalJSON(&rules.Settings{Responder: old.Responder})
		nj, _ := rules.MarshalJSON(&rules.Settings{Responder: s.Responder})
		if !bytes.Equal(oj, nj) {
			if err := st.ResponderReset(ctx, acct.ID); err != nil {
				return err
			}
		}
		fmt.Fprintf(a.stdout, "Imported %d rule(s)", len(s.Rules))
		if s.Forwarder != nil {
			fmt.Fprint(a.stdout, ", a forwarder")
		}
		if s.Responder != nil {
			fmt.Fprint(a.stdout, ", a responder")
		}
		fmt.Fprintf(a.stdout, " for %s.\n", acct.Address)
		return nil
	})
}

// maxTestMessage bounds the message `floe rules test` reads.
const maxTestMessage = 64 << 20

func (a *app) rulesTest(c *cmdCtx) error {
	data, err := io.ReadAll(io.LimitReader(a.stdin, maxTestMessage+1))
	if err != nil {
		return err
	}
	if len(data) > maxTestMessage {
		return fmt.Errorf("message larger than %d bytes", maxTestMessage)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return usagef("no message on standard input (floe rules test ACCOUNT < message.eml)")
	}
	data = crlf(data)
	var ip netip.Addr
	if c.rules.ip != "" {
		if ip, err = netip.ParseAddr(c.rules.ip); err != nil {
			return usagef("--ip %q is not an IP address", c.rules.ip)
		}
	}
	return a.accountRules(c, func(ctx context.Context, cfg *config.Config, st storage.Store, acct storage.Account) error {
		d := delivery.New(delivery.Options{Store: st, Config: func() *config.Config { return cfg }, Logger: a.cliLogger()})
		rcptAddr := acct.Address
		if c.rules.rcpt != "" {
			rcptAddr = c.rules.rcpt
		}
		r, err := d.Resolve(ctx, rcptAddr)
		if err != nil {
			return fmt.Errorf("recipient %s: %w", rcptAddr, err)
		}
		parsed, err := mimeparse.Parse(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return err
		}
		m := &delivery.Message{Blob: storage.BlobRef{Size: int64(len(data))}, From: c.rules.from, Recipients: []delivery.Recipient{r},
			RemoteIP: ip, Helo: c.rules.helo, AuthUser: c.rules.auth, RDNS: strings.TrimSuffix(c.rules.rdns, ".")}
		p := d.PlanParsed(ctx, m, parsed)
		for _, rp := range p.Recipients {
			fmt.Fprint(a.stdout, rp.Describe())
		}
		if all, text := p.Rejected(); all {
			if text == "" {
				text = "Message rejected by the recipient's rules"
			}
			fmt.Fprintf(a.stdout, "SMTP on port 25 would answer: 550 5.7.1 %s\n", text)
		}
		fmt.Fprintln(a.stdout, "(nothing was changed)")
		return nil
	})
}

// crlf turns bare LF line ends into CRLF, as SMTP stores messages.
func crlf(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) || bytes.Count(b, []byte("\r\n")) == bytes.Count(b, []byte("\n")) {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func (a *app) rulesCert(c *cmdCtx) error {
	data, err := os.ReadFile(c.args[1])
	if err != nil {
		return err
	}
	if _, err := delivery.ParseCert(data); err != nil {
		return fmt.Errorf("%s: %v", c.args[1], err)
	}
	return a.accountRules(c, func(ctx context.Context, cfg *config.Config, st storage.Store, acct storage.Account) error {
		if err := st.SetMetadata(ctx, acct.ID, 0, []storage.MetadataEntry{{Name: delivery.CertEntry, Value: data}}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Stored the S/MIME certificate of %s.\n", acct.Address)
		return nil
	})
}

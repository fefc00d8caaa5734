package delivery

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// ruleSource compiles rules once and hands out the stages of a recipient:
// the config file's rules are compiled once per loaded config (a reload
// gives a new *config.Config), an account's database document once per
// content. The CLI may change documents while the server runs, from
// another process: every delivery reads the store's rules version
// (storage.Rules.RulesVersion, one small indexed read), and an account's
// document is read again only when the version changed since it was last
// read (and recompiled only when its content changed), so a change applies
// from the next message on.
type ruleSource struct {
	mu      sync.Mutex
	cfg     *config.Config
	server  *rules.Program
	domains map[string]*rules.Program // config [[domain.rules]] + scoped [[rules]]
	accts   map[string]*rules.Program // config [[account.rules]] etc. + scoped [[rules]]
	db      map[storage.AccountID]dbProgram
}

// dbProgram is an account's database document as read at a rules version
// (doc nil: the account had none).
type dbProgram struct {
	version uint64
	doc     []byte
	prog    *rules.Program
	err     error
}

// maxDBCache bounds the accounts whose documents are kept.
const maxDBCache = 10000

// configPrograms compiles the rules of c (once per c).
func (s *ruleSource) configPrograms(c *config.Config, log *slog.Logger) (*rules.Program, map[string]*rules.Program, map[string]*rules.Program) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg == c {
		return s.server, s.domains, s.accts
	}
	base := ""
	if c.File != "" {
		base = filepath.Dir(c.File)
	}
	opts := rules.Options{BaseDir: base, AllowFiles: true}
	compile := func(st *rules.Settings) *rules.Program {
		p, err := rules.Compile(st, rules.Source{File: c.File}, opts)
		if err != nil {
			// Validation compiled the same rules: only a list file that
			// vanished since can fail here.
			log.Error("rules of the config file not applied", "err", err)
			return nil
		}
		return p
	}
	var server []rules.Rule
	domains := map[string]*rules.Settings{}
	accts := map[string]*rules.Settings{}
	get := func(m map[string]*rules.Settings, k string) *rules.Settings {
		if m[k] == nil {
			m[k] = &rules.Settings{}
		}
		return m[k]
	}
	for _, d := range c.Domains {
		st := get(domains, strings.ToLower(d.Name))
		st.Rules = append(st.Rules, d.Rules...)
	}
	for _, a := range c.Accounts {
		st := get(accts, strings.ToLower(a.Address))
		st.Rules = append(st.Rules, a.Rules...)
		st.Forwarder, st.Responder = a.Forwarder, a.Responder
	}
	for _, r := range c.Rules {
		switch sc := strings.ToLower(r.Scope); {
		case sc == "":
			server = append(server, r)
		case strings.Contains(sc, "@"):
			st := get(accts, sc)
			st.Rules = append(st.Rules, r)
		default:
			st := get(domains, sc)
			st.Rules = append(st.Rules, r)
		}
	}
	s.cfg = c
	s.server = compile(&rules.Settings{Rules: server})
	s.domains = map[string]*rules.Program{}
	for k, st := range domains {
		s.domains[k] = compile(st)
	}
	s.accts = map[string]*rules.Program{}
	for k, st := range accts {
		s.accts[k] = compile(st)
	}
	return s.server, s.domains, s.accts
}

// dbProgram returns the compiled database document of acct (nil when it
// has none). A document that no longer compiles (a list file removed) is
// logged by the caller and ignored.
func (s *ruleSource) dbProgram(ctx context.Context, st storage.Store, acct storage.AccountID) (*rules.Program, error) {
	// The version first: the document read after it is at least as new,
	// so an entry is never newer than its version says.
	v, err := st.RulesVersion(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	c, cached := s.db[acct]
	s.mu.Unlock()
	if cached && c.version == v {
		return c.prog, c.err
	}
	doc, err := st.AccountRules(ctx, acct)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c = dbProgram{}
	case err != nil:
		return nil, err
	case cached && c.doc != nil && bytes.Equal(c.doc, doc):
		// Unchanged (another account's document changed): no recompile.
	default:
		c.doc = doc
		c.prog, c.err = CompileDocument(doc)
	}
	c.version = v
	s.mu.Lock()
	if s.db == nil || len(s.db) >= maxDBCache {
		s.db = map[storage.AccountID]dbProgram{}
	}
	s.db[acct] = c
	s.mu.Unlock()
	return c.prog, c.err
}

// CompileDocument compiles an account's stored rule document (JSON or
// TOML). Stored documents were checked when they were stored (floe rules
// import/add); list and text files are allowed, since only the
// administrator's tools store documents today.
func CompileDocument(doc []byte) (*rules.Program, error) {
	_, p, err := rules.Load("account rules", doc, rules.Options{AllowFiles: true})
	return p, err
}

// stages returns the rule stages of recipient r: server, domain, account
// (config file), account (database).
func (d *Deliverer) stages(ctx context.Context, r Recipient) []rules.Stage {
	server, domains, accts := d.rules.configPrograms(d.cfg(), d.log)
	_, domain, _ := strings.Cut(r.AccountAddress, "@")
	out := make([]rules.Stage, 0, 4)
	if server != nil {
		out = append(out, rules.Stage{Level: rules.LevelServer, Program: server})
	}
	if p := domains[domain]; p != nil {
		out = append(out, rules.Stage{Level: rules.LevelDomain, Program: p})
	}
	if p := accts[r.AccountAddress]; p != nil {
		out = append(out, rules.Stage{Level: rules.LevelAccount, Program: p})
	}
	p, err := d.rules.dbProgram(ctx, d.store, r.Account)
	if err != nil {
		d.log.Error("account rules not applied", "account", r.AccountAddress, "err", err)
	} else if p != nil {
		out = append(out, rules.Stage{Level: rules.LevelAccount, Program: p})
	}
	return out
}

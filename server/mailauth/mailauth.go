// Package mailauth checks mail arriving from other servers (port 25,
// unauthenticated): SPF (RFC 7208, evaluated here), DKIM (RFC 6376, with
// go-msgauth/dkim), DMARC (RFC 7489, go-msgauth/dmarc for the record
// syntax) and a logged-only reverse-DNS/HELO check. The verdicts become an
// Authentication-Results header (RFC 8601) and an Action chosen by the
// [checks] configuration.
//
// Policy (config.Checks):
//
//   - DMARC fail for a p=reject domain: dmarc_reject_action (reject, junk
//     or mark; default junk).
//   - DMARC fail for a p=quarantine domain: junk, or mark when
//     dmarc_reject_action is "mark".
//   - Otherwise (no DMARC record, p=none, DMARC temperror), SPF fail:
//     spf_fail_action (default mark).
//   - A DMARC pass accepts; temporary DNS errors never reject.
//
// pct= is honoured (RFC 7489 6.6.4): a message outside the percentage gets
// the next weaker policy.
package mailauth

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/mail"
	"net/netip"
	"net/textproto"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/floemail/floe/server/config"
)

// Action is what the SMTP server does with a checked message.
type Action int

const (
	// Accept delivers normally (the header is still added).
	Accept Action = iota
	// Junk delivers into the recipients' Junk mailbox.
	Junk
	// Reject refuses the message at DATA with 550 5.7.1.
	Reject
)

func (a Action) String() string {
	switch a {
	case Junk:
		return "junk"
	case Reject:
		return "reject"
	}
	return "accept"
}

func actionOf(s string) Action {
	switch s {
	case "reject":
		return Reject
	case "junk":
		return Junk
	}
	return Accept
}

// Info is the message to check.
type Info struct {
	RemoteIP netip.Addr
	Helo     string
	MailFrom string // envelope sender, "" for the null sender
	// Message is the message as received (a Received header in front is
	// fine); Size its length.
	Message io.ReaderAt
	Size    int64
	// Log, when set, receives the per-message log lines (rDNS/HELO).
	Log *slog.Logger
}

// DKIMVerdict is the outcome for one DKIM-Signature.
type DKIMVerdict struct {
	Result     string // pass, fail, neutral, temperror, permerror
	Domain     string // d=
	Identifier string // i=
}

// Result is the outcome of Check.
type Result struct {
	// Header is the complete "Authentication-Results: ...\r\n" field.
	Header     string
	SPF        SPFResult
	SPFDomain  string // the domain SPF evaluated
	DKIM       []DKIMVerdict
	DMARC      DMARCResult
	FromDomain string // RFC5322.From domain
	Policy     string // DMARC policy applied: none, quarantine, reject ("" without record)
	Action     Action
	Reason     string // why Action is not Accept
	// PTR is the client's forward-confirmed reverse DNS name (iprev pass;
	// without the final dot), "" when unknown or [checks] log_rdns is off.
	PTR string
}

// Options configures a Checker.
type Options struct {
	Config func() *config.Config
	// Resolver overrides the DNS (tests); nil uses [checks] dns.
	Resolver Resolver
	Logger   *slog.Logger
}

// Checker runs the arrival checks. It is safe for concurrent use.
type Checker struct {
	cfg func() *config.Config
	res Resolver
	log *slog.Logger

	mu       sync.Mutex
	dnsAddr  string
	resolver Resolver
}

// New returns a Checker.
func New(o Options) *Checker {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Checker{cfg: o.Config, res: o.Resolver, log: log}
}

// resolverFor returns the resolver for the configured DNS address, made
// once per address (a reload can change it).
func (c *Checker) resolverFor(addr string) Resolver {
	if c.res != nil {
		return c.res
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resolver == nil || c.dnsAddr != addr {
		c.resolver, c.dnsAddr = NewResolver(addr), addr
	}
	return c.resolver
}

// maxHeaderBytes bounds the header section parsed for From.
const maxHeaderBytes = 1 << 20

// Check runs SPF, DKIM and DMARC on one message and returns the verdicts,
// the header to prepend and the action. It never fails: DNS problems
// become temperror verdicts. All DNS lookups share [checks] timeout.
func (c *Checker) Check(ctx context.Context, in Info) Result {
	cfg := c.cfg().Checks
	log := in.Log
	if log == nil {
		log = c.log
	}
	if d := cfg.Timeout.D(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	res := c.resolverFor(cfg.DNS)
	hostname := c.cfg().Server.Hostname
	var out Result

	// SPF, RFC 7208 (MAIL FROM identity, HELO for the null sender).
	spf := &SPFCheck{Resolver: res, IP: in.RemoteIP.Unmap(), Sender: in.MailFrom, Helo: in.Helo}
	out.SPF, out.SPFDomain = spf.Evaluate(ctx)

	// DKIM, RFC 6376 6.
	verifs, err := dkim.VerifyWithOptions(io.NewSectionReader(in.Message, 0, in.Size),
		&dkim.VerifyOptions{LookupTXT: txtLookup(ctx, res), MaxVerifications: 10})
	if err != nil {
		log.Info("DKIM verification failed to run", "err", err)
	}
	for _, v := range verifs {
		dv := DKIMVerdict{Domain: v.Domain, Identifier: v.Identifier}
		switch {
		case v.Err == nil:
			dv.Result = "pass"
		case dkim.IsTempFail(v.Err):
			dv.Result = "temperror"
		case dkim.IsPermFail(v.Err):
			dv.Result = "permerror"
		default:
			dv.Result = "fail"
		}
		out.DKIM = append(out.DKIM, dv)
	}

	// DMARC, RFC 7489 6.6.
	out.FromDomain, err = fromDomain(io.NewSectionReader(in.Message, 0, in.Size))
	out.DMARC = DMARCNone
	decided := false
	if err != nil {
		out.DMARC = DMARCPermError // no usable single From (RFC 7489 6.6.1)
	} else {
		rec, sub, temp := lookupDMARC(ctx, res, out.FromDomain)
		switch {
		case temp:
			out.DMARC = DMARCTempError
		case rec != nil:
			pass := false
			if out.SPF == SPFPass && aligned(out.SPFDomain, out.FromDomain, rec.SPFAlignment == dmarc.AlignmentStrict) {
				pass = true
			}
			for _, v := range out.DKIM {
				if v.Result == "pass" && aligned(v.Domain, out.FromDomain, rec.DKIMAlignment == dmarc.AlignmentStrict) {
					pass = true
				}
			}
			policy := rec.Policy
			if sub && rec.SubdomainPolicy != "" {
				policy = rec.SubdomainPolicy
			}
			if rec.Percent != nil && *rec.Percent < 100 && rand.IntN(100) >= *rec.Percent {
				switch policy { // RFC 7489 6.6.4: the next weaker policy
				case dmarc.PolicyReject:
					policy = dmarc.PolicyQuarantine
				case dmarc.PolicyQuarantine:
					policy = dmarc.PolicyNone
				}
			}
			out.Policy = string(policy)
			if pass {
				out.DMARC = DMARCPass
				decided = true
				break
			}
			out.DMARC = DMARCFail
			temporary := out.SPF == SPFTempError
			for _, v := range out.DKIM {
				temporary = temporary || v.Result == "temperror"
			}
			switch {
			case temporary:
				// A verdict that DNS trouble may have caused never junks or rejects.
			case policy == dmarc.PolicyReject:
				out.Action, decided = actionOf(cfg.DMARCRejectAction), true
				out.Reason = "DMARC policy reject for " + out.FromDomain
			case policy == dmarc.PolicyQuarantine:
				decided = true
				if cfg.DMARCRejectAction != "mark" {
					out.Action = Junk
					out.Reason = "DMARC policy quarantine for " + out.FromDomain
				}
			}
		}
	}
	if !decided && out.SPF == SPFFail {
		out.Action = actionOf(cfg.SPFFailAction)
		out.Reason = "SPF fail for " + out.SPFDomain
	}
	if out.Action == Accept {
		out.Reason = ""
	}

	results := []authres.Result{&authres.SPFResult{Value: authres.ResultValue(out.SPF), From: spfFrom(in), Helo: in.Helo}}
	if len(out.DKIM) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, v := range out.DKIM {
		results = append(results, &authres.DKIMResult{Value: authres.ResultValue(v.Result), Domain: v.Domain, Identifier: v.Identifier})
	}
	results = append(results, &authres.DMARCResult{Value: authres.ResultValue(out.DMARC), From: out.FromDomain})
	if cfg.LogRDNS {
		if iprev := c.iprev(ctx, res, in, log, &out.PTR); iprev != "" {
			results = append(results, &authres.IPRevResult{Value: authres.ResultValue(iprev), IP: in.RemoteIP.Unmap().String()})
		}
	}
	out.Header = "Authentication-Results: " + foldAR(authres.Format(hostname, results)) + "\r\n"
	log.Info("arrival checks", "spf", string(out.SPF), "dkim", len(out.DKIM), "dmarc", string(out.DMARC),
		"from_domain", out.FromDomain, "action", out.Action.String(), "reason", out.Reason)
	return out
}

// spfFrom is the smtp.mailfrom value: the sender, or empty for <>.
func spfFrom(in Info) string {
	return in.MailFrom
}

// foldAR puts each resinfo on its own line (RFC 5322 2.2.3 folding), so
// the field stays well below 998 bytes per line.
func foldAR(s string) string {
	return strings.ReplaceAll(s, "; ", ";\r\n\t")
}

// iprev is the reverse-DNS check (RFC 8601 3: iprev) and the HELO check;
// both are only logged. It returns pass, fail, temperror or "" when the
// address is unusable.
func (c *Checker) iprev(ctx context.Context, r Resolver, in Info, log *slog.Logger, ptr *string) string {
	ip := in.RemoteIP.Unmap()
	if !ip.IsValid() {
		return ""
	}
	result := "fail"
	names, err := r.LookupAddr(ctx, ip.String())
	if err != nil && !isNotFound(err) {
		result = "temperror"
	}
	confirmed := ""
	for _, n := range names {
		if len(names) > 10 {
			break
		}
		addrs, err := r.LookupIPAddr(ctx, n)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipOf(a.IP) == ip {
				result, confirmed = "pass", strings.TrimSuffix(n, ".")
			}
		}
		if confirmed != "" {
			break
		}
	}
	heloOK := false
	if h := strings.TrimSuffix(in.Helo, "."); h != "" && !strings.HasPrefix(h, "[") {
		if addrs, err := r.LookupIPAddr(ctx, h); err == nil {
			for _, a := range addrs {
				heloOK = heloOK || ipOf(a.IP) == ip
			}
		}
	}
	log.Info("reverse DNS and HELO", "iprev", result, "ptr", confirmed, "helo", in.Helo, "helo_matches_ip", heloOK)
	*ptr = confirmed
	return result
}

// fromDomain returns the domain of the single RFC5322.From address
// (RFC 7489 6.6.1).
func fromDomain(r io.Reader) (string, error) {
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(r, maxHeaderBytes)))
	h, err := tp.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return "", err
	}
	froms := h.Values("From")
	if len(froms) != 1 {
		return "", errors.New("not exactly one From field")
	}
	list, err := mail.ParseAddressList(froms[0])
	if err != nil || len(list) != 1 {
		return "", errors.New("not exactly one From address")
	}
	_, domain, ok := cutLast(list[0].Address)
	if !ok || domain == "" {
		return "", errors.New("From address without domain")
	}
	return strings.ToLower(domain), nil
}

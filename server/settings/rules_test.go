package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/storage"
)

// memRules is a RuleStore in memory.
type memRules struct {
	mu     sync.Mutex
	docs   map[storage.AccountID][]byte
	resets int
}

func (m *memRules) AccountRules(_ context.Context, a storage.AccountID) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[a]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return d, nil
}

func (m *memRules) SetAccountRules(_ context.Context, a storage.AccountID, doc []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(doc) == 0 {
		delete(m.docs, a)
	} else {
		m.docs[a] = doc
	}
	return nil
}

func (m *memRules) ResponderReset(context.Context, storage.AccountID) error {
	m.mu.Lock()
	m.resets++
	m.mu.Unlock()
	return nil
}

// validate stands in for the rules layer: a rule needs a title, a
// responder a known mode.
func validate(_ context.Context, _ storage.Account, doc []byte) ([]byte, error) {
	var d struct {
		Rules []struct {
			Title string `json:"title"`
		} `json:"rules"`
		Responder *struct {
			Mode string `json:"mode"`
		} `json:"responder"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	for i, r := range d.Rules {
		if r.Title == "" {
			return nil, fmt.Errorf("rules[%d]: a rule needs a title", i)
		}
	}
	if d.Responder != nil && d.Responder.Mode != "always" && d.Responder.Mode != "disabled" {
		return nil, errors.New("responder.mode: unknown mode")
	}
	return doc, nil
}

func TestRulesAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mem := &memRules{docs: map[storage.AccountID][]byte{}}
	e.h.o.Rules, e.h.o.ValidateRules = mem, validate
	b := e.browser(t)
	b.login("alice@example.org", oldPW)

	var rules []map[string]any
	if code := b.do("GET", "/api/v1/rules", nil, &rules); code != 200 || len(rules) != 0 {
		t.Fatalf("empty rules: %d %v", code, rules)
	}
	var fwd any
	if code := b.do("GET", "/api/v1/forwarder", nil, &fwd); code != 200 || fwd != nil {
		t.Fatalf("empty forwarder: %d %v", code, fwd)
	}
	two := []map[string]any{{"title": "a", "conditions": []any{}, "actions": []any{}}, {"title": "b"}}
	if code := b.do("PUT", "/api/v1/rules", two, &rules); code != 200 || len(rules) != 2 || rules[1]["title"] != "b" {
		t.Fatalf("put rules: %d %v", code, rules)
	}
	var er apiErr
	if code := b.do("PUT", "/api/v1/rules", []map[string]any{{"title": ""}}, &er); code != 400 || er.Error != "rules[0]: a rule needs a title" {
		t.Errorf("invalid rule: %d %+v", code, er)
	}
	// The refused change left the document alone.
	b.do("GET", "/api/v1/rules", nil, &rules)
	if len(rules) != 2 {
		t.Errorf("after a refused change: %v", rules)
	}
	if code := b.do("PUT", "/api/v1/forwarder", map[string]any{"to": []string{"x@example.net"}, "keep_copy": true}, &fwd); code != 200 {
		t.Errorf("forwarder: %d", code)
	}
	if code := b.do("PUT", "/api/v1/responder", map[string]any{"mode": "always", "text": "away"}, nil); code != 200 || mem.resets != 1 {
		t.Errorf("responder: %d, resets %d", code, mem.resets)
	}
	if code := b.do("PUT", "/api/v1/responder", map[string]any{"mode": "weird"}, &er); code != 400 {
		t.Errorf("bad responder: %d", code)
	}
	// The stored document has every part.
	var doc map[string]json.RawMessage
	json.Unmarshal(mem.docs[1], &doc)
	if len(doc) != 3 {
		t.Errorf("stored document: %s", mem.docs[1])
	}
	// null removes a part; removing everything deletes the document.
	for _, p := range []string{"rules", "forwarder", "responder"} {
		req := "/api/v1/" + p
		if code := b.do("PUT", req, json.RawMessage("null"), nil); code != 200 {
			t.Errorf("clear %s: %d", p, code)
		}
	}
	if _, ok := mem.docs[1]; ok {
		t.Errorf("document not deleted: %s", mem.docs[1])
	}
	// Another account sees nothing of it.
	bob := e.browser(t)
	bob.login("bob@example.org", oldPW)
	if bob.do("GET", "/api/v1/rules", nil, &rules); len(rules) != 0 {
		t.Errorf("bob sees %v", rules)
	}
}

func TestRulesAPIAbsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.login("alice@example.org", oldPW)
	if code := b.do("GET", "/api/v1/rules", nil, nil); code != 404 {
		t.Errorf("without a rule store: %d", code)
	}
}

// rulesLayer validates as the server does (server/http.go): the rules
// layer's parser and compiler, without files.
func rulesLayer(_ context.Context, _ storage.Account, doc []byte) ([]byte, error) {
	st, src, err := rules.ParseJSON("your rules", doc)
	if err != nil {
		return nil, err
	}
	if _, err := rules.Compile(st, src, rules.Options{}); err != nil {
		return nil, err
	}
	return rules.MarshalJSON(st)
}

// TestRulesAPIFieldErrors: a refused document answers each problem with
// its key path, so that the page can show it next to its field.
func TestRulesAPIFieldErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.h.o.Rules, e.h.o.ValidateRules = &memRules{docs: map[storage.AccountID][]byte{}}, rulesLayer
	b := e.browser(t)
	b.login("alice@example.org", oldPW)
	bad := []map[string]any{
		{"title": "ok", "conditions": []any{map[string]any{"if": "all"}}, "actions": []any{map[string]any{"do": "accept"}}},
		{"title": "bad", "conditions": []any{
			map[string]any{"if": "subject", "contains": "a"},
			map[string]any{"if": "subject", "regex": "("},
			map[string]any{"if": "local_time", "hours": "9-5"},
		}, "actions": []any{
			map[string]any{"do": "move", "folder": "A"},
			map[string]any{"do": "add_header", "header": "X-A"},
		}},
	}
	var er apiErr
	if code := b.do("PUT", "/api/v1/rules", bad, &er); code != 400 {
		t.Fatalf("invalid rules: %d %+v", code, er)
	}
	keys := map[string]string{}
	for _, f := range er.Errors {
		keys[f.Key] = f.Message
	}
	for _, k := range []string{"rules[1].conditions[1].regex", "rules[1].conditions[2].hours", "rules[1].actions[1].value"} {
		if keys[k] == "" {
			t.Errorf("no problem for %s: %+v", k, er.Errors)
		}
	}
	if len(er.Errors) != 3 || !strings.Contains(er.Error, "rules[1].conditions[1].regex: invalid regular expression") {
		t.Errorf("answer: %+v", er)
	}
	for _, tc := range []struct {
		part string
		body any
		key  string
	}{
		{"responder", map[string]any{"mode": "once", "text": "away", "from_date": "2026-06-22", "to_date": "2026-06-18"}, "responder.to_date"},
		{"responder", map[string]any{"mode": "again_after", "text": "away"}, "responder.again_after_days"},
		{"forwarder", map[string]any{"to": []string{"ok@example.net", "not an address"}}, "forwarder.to[1]"},
	} {
		er = apiErr{}
		if code := b.do("PUT", "/api/v1/"+tc.part, tc.body, &er); code != 400 || er.key() != tc.key {
			t.Errorf("%s %v: %d %+v, want the problem at %s", tc.part, tc.body, code, er, tc.key)
		}
	}
}

// TestRulesAPIPageShapes: the shapes the page's editor writes (every
// condition of the seed's Appendix A with its options, every action of
// Appendix B) are accepted by the rules layer and come back unchanged.
func TestRulesAPIPageShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.h.o.Rules, e.h.o.ValidateRules = &memRules{docs: map[storage.AccountID][]byte{}}, rulesLayer
	b := e.browser(t)
	b.login("alice@example.org", oldPW)
	conds := `[
	 {"if":"from","contains":"a;b"}, {"if":"to","regex":"^x","match_case":true}, {"if":"subject","starts_with":"[x]","whole_word":true},
	 {"if":"cc","ends_with":"@y.example"}, {"if":"reply_to","equals":"z@y.example"}, {"if":"date","contains":"Sat,"},
	 {"if":"priority","is":"high"}, {"if":"spam","not":true}, {"if":"size","greater":100,"lower":2048.5},
	 {"if":"body","contains":"unsubscribe"}, {"if":"header","header":"X-Mailer","contains":"jim;bob"},
	 {"if":"any_header","starts_with":"x-spam-flag: yes"}, {"if":"attachment_name","ends_with":".exe;.scr"},
	 {"if":"has_attachment"}, {"if":"sender","ends_with":"@partner.example"}, {"if":"recipient","contains":"+shop"},
	 {"if":"sender_is","local":true,"account":"exists","member_of_domain":"example.org","member_of_group":"sales"},
	 {"if":"recipient_is","local":false}, {"if":"ip","starts_with":"192.0.2."}, {"if":"rdns","ends_with":".example.net"},
	 {"if":"trusted_ip"}, {"if":"spam_score","greater":5}, {"if":"smtp_auth"},
	 {"if":"local_time","days":["mon","fri"],"hours":"18:00-08:00","from_date":"2026-12-24","to_date":"2027-01-01","timezone":"Europe/Prague"},
	 {"if":"all"}]`
	acts := `[
	 {"do":"accept"}, {"do":"reject","text":"No"}, {"do":"delete"}, {"do":"spam"}, {"do":"quarantine"}, {"do":"stop"},
	 {"do":"forward","to":"boss@example.net"}, {"do":"move","folder":"A/B"}, {"do":"copy","folder":"%%Extension%%"},
	 {"do":"encrypt"}, {"do":"send","to":"%%Sender%%","from":"robot@example.org","subject":"Re: %%Subject%%","text":"Hello %%From_Name%%"},
	 {"do":"add_header","header":"X-P","value":"n"}, {"do":"edit_header","header":"Subject","value":"[U] %%Subject%%"},
	 {"do":"delete_header","header":"X-Mailer"}, {"do":"priority","priority":"low"}, {"do":"flags","flags":["\\Flagged","Billing"]}]`
	doc := json.RawMessage(`[{"title":"every","active":false,"conditions":` + conds + `,"actions":` + acts + `}]`)
	var got []map[string]any
	if code := b.do("PUT", "/api/v1/rules", doc, &got); code != 200 || len(got) != 1 {
		t.Fatalf("put: %d %v", code, got)
	}
	var want []map[string]any
	json.Unmarshal(doc, &want)
	if gj, wj := mustJSON(got), mustJSON(want); gj != wj {
		t.Errorf("round trip:\n got %s\nwant %s", gj, wj)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

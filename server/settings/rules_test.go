package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

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
func validate(doc []byte) ([]byte, error) {
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

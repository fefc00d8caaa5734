package settings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/server/jsonapi"
	"github.com/floemail/floe/storage"
)

// The account's rules, forwarder and responder are one document in the
// rules layer's schema ({"rules": [...], "forwarder": {...}, "responder":
// {...}}, see docs/rules.md), stored per account. The API edits one part
// at a time and validates the whole document with the rules layer before
// storing it, so an invalid rule is refused with its reason and nothing
// changes. This package does not interpret the parts: the rules layer is
// the one place that knows the schema.

// RuleStore keeps an account's rule document (storage.Rules).
type RuleStore interface {
	// AccountRules returns the document; storage.ErrNotFound when none.
	AccountRules(ctx context.Context, acct storage.AccountID) ([]byte, error)
	// SetAccountRules replaces it (an empty document deletes it).
	SetAccountRules(ctx context.Context, acct storage.AccountID, doc []byte) error
}

// responderResetter forgets whom the responder answered (a changed
// responder answers everyone again).
type responderResetter interface {
	ResponderReset(ctx context.Context, acct storage.AccountID) error
}

// ValidateRules checks the rule document in JSON that acct wants to store
// and returns it normalised; its error text is shown to the user. When the
// error is the rules layer's (*rules.Errors or *rules.Error), each problem
// is also answered with its key path (ErrorAnswer.Errors), so that the
// page shows it next to its field.
type ValidateRules func(ctx context.Context, acct storage.Account, doc []byte) ([]byte, error)

// fieldErrors returns the problems of a rules-layer error by key path
// (nil when err is not one).
func fieldErrors(err error) []FieldError {
	var list []*rules.Error
	var many *rules.Errors
	var one *rules.Error
	switch {
	case errors.As(err, &many):
		list = many.List
	case errors.As(err, &one):
		list = []*rules.Error{one}
	}
	var out []FieldError
	for _, e := range list {
		out = append(out, FieldError{Key: e.Key, Message: e.Reason})
	}
	return out
}

// ruleParts are the document's keys the API edits.
var ruleParts = map[string]bool{"rules": true, "forwarder": true, "responder": true}

func (h *Handler) mountRules(m *http.ServeMux) {
	for part := range ruleParts {
		m.HandleFunc("GET /api/v1/"+part, h.user(func(w http.ResponseWriter, r *http.Request, c *caller) { h.getPart(w, r, c, part) }))
		m.HandleFunc("PUT /api/v1/"+part, h.user(func(w http.ResponseWriter, r *http.Request, c *caller) { h.putPart(w, r, c, part) }))
	}
}

// loadDoc returns the account's document as its top-level keys.
func (h *Handler) loadDoc(ctx context.Context, acct storage.AccountID) (map[string]json.RawMessage, error) {
	doc := map[string]json.RawMessage{}
	raw, err := h.o.Rules.AccountRules(ctx, acct)
	if errors.Is(err, storage.ErrNotFound) {
		return doc, nil
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return doc, nil
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

func emptyPart(part string) json.RawMessage {
	if part == "rules" {
		return json.RawMessage("[]")
	}
	return json.RawMessage("null")
}

func (h *Handler) getPart(w http.ResponseWriter, r *http.Request, c *caller, part string) {
	if h.o.Rules == nil {
		jsonapi.WriteError(w, http.StatusNotFound, "rules are not available on this server")
		return
	}
	doc, err := h.loadDoc(r.Context(), c.acct.ID)
	if err != nil {
		h.internal(w, "load rules", err)
		return
	}
	v, ok := doc[part]
	if !ok || len(v) == 0 {
		v = emptyPart(part)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(v, '\n'))
}

func (h *Handler) putPart(w http.ResponseWriter, r *http.Request, c *caller, part string) {
	if h.o.Rules == nil || h.o.ValidateRules == nil {
		jsonapi.WriteError(w, http.StatusNotFound, "rules are not available on this server")
		return
	}
	var v json.RawMessage
	if err := jsonapi.DecodeJSON(w, r, maxRulesBody, &v); err != nil {
		jsonapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	// Read-modify-write of one document: serialise an account's changes
	// (in this process; the CLI writes whole documents).
	mu := &h.ruleMu[uint64(c.acct.ID)%uint64(len(h.ruleMu))]
	mu.Lock()
	defer mu.Unlock()
	doc, err := h.loadDoc(ctx, c.acct.ID)
	if err != nil {
		h.internal(w, "load rules", err)
		return
	}
	if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		delete(doc, part)
	} else {
		doc[part] = v
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		h.internal(w, "encode rules", err)
		return
	}
	norm, err := h.o.ValidateRules(ctx, c.acct, raw)
	if err != nil {
		jsonapi.WriteJSON(w, http.StatusBadRequest, ErrorAnswer{Error: err.Error(), Errors: fieldErrors(err)})
		return
	}
	if len(doc) == 0 {
		norm = nil
	}
	if err := h.o.Rules.SetAccountRules(ctx, c.acct.ID, norm); err != nil {
		if errors.Is(err, storage.ErrInvalid) {
			jsonapi.WriteError(w, http.StatusBadRequest, "the rules were refused by the store: too large or malformed")
			return
		}
		h.internal(w, "store rules", err)
		return
	}
	if part == "responder" {
		if rr, ok := h.o.Rules.(responderResetter); ok {
			if err := rr.ResponderReset(ctx, c.acct.ID); err != nil {
				h.log.Warn("responder state not reset", "account", c.acct.Address, "error", err)
			}
		}
	}
	h.log.Info("rules changed", "account", c.acct.Address, "part", part)
	h.getPart(w, r, c, part)
}

// maxRulesBody bounds a PUT of rules (the rules layer bounds the document
// again).
const maxRulesBody = 256 << 10

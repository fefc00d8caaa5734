package settings

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/server/jsonapi"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// Sharing through the user's view (storage/view): the one authorization
// path every protocol uses. A user lists and changes the ACLs of their own
// folders and account root, and sees, subscribes to or declines what
// others share with them. Rights are given as the seed's sets ("read",
// "write", "all", "full", "none", or unions such as "read+write") or RFC
// 4314 letters (acl.ParseSpec).

// Share is one grant on a folder of the caller.
type Share struct {
	// Folder is the folder's name; "" is the whole account (its root).
	Folder  string `json:"folder"`
	Grantee string `json:"grantee"`
	// Set names the rights as the seed's dialog does (acl.Describe);
	// Rights are the RFC 4314 letters.
	Set    string `json:"set"`
	Rights string `json:"rights"`
}

// SharedWithMe is a folder of another account the caller may see.
type SharedWithMe struct {
	Owner string `json:"owner"`
	// Folder is the path in the owner's tree; Name the caller's name for
	// it ("~owner/Folder"), which subscribe/decline take.
	Folder     string `json:"folder"`
	Name       string `json:"name"`
	Set        string `json:"set"`
	Rights     string `json:"rights"`
	Subscribed bool   `json:"subscribed"`
}

// Shares is the answer of GET /api/v1/shares.
type Shares struct {
	Folders      []string       `json:"folders"`
	Shared       []Share        `json:"shared"`
	SharedWithMe []SharedWithMe `json:"shared_with_me"`
}

func (h *Handler) mountSharing(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/shares", h.user(h.getShares))
	m.HandleFunc("PUT /api/v1/shares", h.user(h.putShare))
	m.HandleFunc("PUT /api/v1/shared-with-me", h.user(h.putSharedWithMe))
}

func (h *Handler) view(ctx context.Context, c *caller) (*view.View, error) {
	return view.New(ctx, h.o.Sharing, c.acct.ID, view.Options{Logger: h.log})
}

func (h *Handler) sharesOf(ctx context.Context, v *view.View, c *caller) (Shares, error) {
	out := Shares{Folders: []string{}, Shared: []Share{}, SharedWithMe: []SharedWithMe{}}
	folders, err := v.List(ctx)
	if err != nil {
		return out, err
	}
	add := func(name string, a storage.ACL) {
		if !a.Own {
			return // inherited: shown on the folder it comes from
		}
		for _, e := range a.Entries {
			if e.Negative {
				continue
			}
			out.Shared = append(out.Shared, Share{Folder: name, Grantee: string(e.Identifier),
				Set: acl.Describe(e.Rights), Rights: e.Rights.String()})
		}
	}
	root, err := v.GetACL(ctx, c.acct.ID, storage.RootMailbox)
	if err != nil {
		return out, err
	}
	add("", root)
	for _, f := range folders {
		switch {
		case f.Own:
			out.Folders = append(out.Folders, f.Name)
			a, err := v.GetACL(ctx, c.acct.ID, f.ID())
			if err != nil {
				return out, err
			}
			add(f.Name, a)
		case !f.Public():
			out.SharedWithMe = append(out.SharedWithMe, SharedWithMe{Owner: f.Owner, Folder: f.Path, Name: f.Name,
				Set: acl.Describe(f.Rights), Rights: f.Rights.String(), Subscribed: f.Subscribed})
		}
	}
	sort.Strings(out.Folders)
	return out, nil
}

func (h *Handler) getShares(w http.ResponseWriter, r *http.Request, c *caller) {
	if h.o.Sharing == nil {
		jsonapi.WriteError(w, http.StatusNotFound, "sharing is not available on this server")
		return
	}
	v, err := h.view(r.Context(), c)
	if err != nil {
		h.internal(w, "view", err)
		return
	}
	s, err := h.sharesOf(r.Context(), v, c)
	if err != nil {
		h.internal(w, "shares", err)
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, s)
}

// ShareRequest is the body of PUT /api/v1/shares.
type ShareRequest struct {
	Folder  string `json:"folder"` // "" shares the whole account
	Grantee string `json:"grantee"`
	Set     string `json:"set"` // "none" removes the grant
}

func (h *Handler) putShare(w http.ResponseWriter, r *http.Request, c *caller) {
	if h.o.Sharing == nil {
		jsonapi.WriteError(w, http.StatusNotFound, "sharing is not available on this server")
		return
	}
	var req ShareRequest
	if err := jsonapi.DecodeJSON(w, r, maxBody, &req); err != nil {
		jsonapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	rights, err := acl.ParseSpec(req.Set)
	if err != nil {
		writeFieldError(w, http.StatusBadRequest, "set", "set: "+strings.TrimPrefix(err.Error(), "acl: "))
		return
	}
	domain := c.acct.Address[strings.LastIndexByte(c.acct.Address, '@')+1:]
	id, err := acl.ParseIdentifier(req.Grantee, domain)
	if err != nil {
		writeFieldError(w, http.StatusBadRequest, "grantee", "grantee: "+strings.TrimPrefix(err.Error(), "acl: "))
		return
	}
	if strings.EqualFold(string(id), c.acct.Address) {
		writeFieldError(w, http.StatusBadRequest, "grantee", "grantee: you always have every right on your own folders")
		return
	}
	ctx := r.Context()
	v, err := h.view(ctx, c)
	if err != nil {
		h.internal(w, "view", err)
		return
	}
	mbox := storage.RootMailbox
	if req.Folder != "" {
		f, err := v.Lookup(ctx, req.Folder)
		if err != nil || !f.Own {
			writeFieldError(w, http.StatusNotFound, "folder", "no folder "+req.Folder+" of yours")
			return
		}
		mbox = f.ID()
	}
	ch := acl.Change{Identifier: id, Op: acl.OpSet, Rights: rights}
	if rights == 0 {
		ch.Op = acl.OpDelete
	}
	if _, err := v.ChangeACL(ctx, c.acct.ID, mbox, []acl.Change{ch}); err != nil {
		switch {
		case errors.Is(err, storage.ErrInvalid):
			jsonapi.WriteError(w, http.StatusBadRequest, "that grant is not possible")
		case errors.Is(err, storage.ErrPermission), errors.Is(err, storage.ErrNoMailbox):
			jsonapi.WriteError(w, http.StatusNotFound, "no folder "+req.Folder+" of yours")
		default:
			h.internal(w, "change acl", err)
		}
		return
	}
	h.log.Info("sharing changed", "account", c.acct.Address, "folder", req.Folder, "grantee", string(id), "rights", rights.String())
	s, err := h.sharesOf(ctx, v, c)
	if err != nil {
		h.internal(w, "shares", err)
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, s)
}

// SubscribeRequest is the body of PUT /api/v1/shared-with-me.
type SubscribeRequest struct {
	Name       string `json:"name"` // "~owner/Folder"
	Subscribed bool   `json:"subscribed"`
}

func (h *Handler) putSharedWithMe(w http.ResponseWriter, r *http.Request, c *caller) {
	if h.o.Sharing == nil {
		jsonapi.WriteError(w, http.StatusNotFound, "sharing is not available on this server")
		return
	}
	var req SubscribeRequest
	if err := jsonapi.DecodeJSON(w, r, maxBody, &req); err != nil {
		jsonapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	v, err := h.view(ctx, c)
	if err != nil {
		h.internal(w, "view", err)
		return
	}
	if req.Subscribed {
		_, err = v.Subscribe(ctx, req.Name)
	} else {
		err = v.Unsubscribe(ctx, req.Name)
	}
	if errors.Is(err, storage.ErrNoMailbox) || errors.Is(err, storage.ErrPermission) {
		jsonapi.WriteError(w, http.StatusNotFound, "nothing named "+req.Name+" is shared with you")
		return
	}
	if err != nil {
		h.internal(w, "subscribe", err)
		return
	}
	s, err := h.sharesOf(ctx, v, c)
	if err != nil {
		h.internal(w, "shares", err)
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, s)
}

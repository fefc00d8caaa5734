package clientsvc

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/floemail/floe/server/httpauth"
	"github.com/floemail/floe/server/jsonapi"
	"github.com/floemail/floe/storage"
)

// Options configure a Handler.
type Options struct {
	Service *Service
	Store   Store
	// Auth checks the users' Basic credentials.
	Auth   httpauth.Authenticator
	Logger *slog.Logger
}

// Handler serves the client services API (JSON over HTTPS):
//
//	GET  /api/v1/provisioning          the caller's domain's provisioning document
//	GET  /api/v1/update?current=VER    the offered client version
//	GET  /api/v1/activation-key        the caller's activation key
//	POST /api/v1/activate              {"activation_key","machine_id"} -> license document
//	GET  /api/v1/license/public-key    the key that verifies licenses (no login)
//
// Every call but the public key needs the user's Basic credentials.
// Errors are {"error": "message"} with a 4xx/5xx status.
type Handler struct {
	o   Options
	log *slog.Logger
	mux *http.ServeMux
}

// MaxRequestBody bounds request bodies (activation requests are tiny).
const MaxRequestBody = 4 << 10

const protocol = "clientsvc"

// NewHandler returns the handler.
func NewHandler(o Options) *Handler {
	h := &Handler{o: o, log: o.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /api/v1/provisioning", h.user(h.provisioning))
	m.HandleFunc("GET /api/v1/update", h.user(h.update))
	m.HandleFunc("GET /api/v1/activation-key", h.user(h.activationKey))
	m.HandleFunc("POST /api/v1/activate", h.user(h.activate))
	m.HandleFunc("GET /api/v1/license/public-key", h.publicKey)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		jsonapi.WriteError(w, http.StatusNotFound, "no such client service; see /api/v1/")
	})
	h.mux = m
	return h
}

// ServeHTTP serves the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("panic in client services", "panic", v, "stack", string(debug.Stack()))
			jsonapi.WriteError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	h.mux.ServeHTTP(w, r)
}

// user wraps a call that needs the caller's account.
func (h *Handler) user(fn func(w http.ResponseWriter, r *http.Request, acct storage.Account)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := httpauth.Basic(h.o.Auth, protocol, w, r)
		if p == nil {
			return
		}
		acct, err := h.o.Store.AccountByID(r.Context(), p.Account)
		if err != nil {
			h.internal(w, "account", err)
			return
		}
		fn(w, r, acct)
	}
}

func (h *Handler) internal(w http.ResponseWriter, what string, err error) {
	h.log.Error("client services: "+what, "error", err)
	jsonapi.WriteError(w, http.StatusInternalServerError, "internal error; try again later")
}

func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

func (h *Handler) provisioning(w http.ResponseWriter, r *http.Request, acct storage.Account) {
	jsonapi.WriteJSON(w, http.StatusOK, h.o.Service.Provisioning(domainOf(acct.Address)))
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request, _ storage.Account) {
	cur := r.URL.Query().Get("current")
	if len(cur) > 64 {
		jsonapi.WriteError(w, http.StatusBadRequest, "current: version too long")
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, h.o.Service.Update(cur))
}

func (h *Handler) activationKey(w http.ResponseWriter, r *http.Request, acct storage.Account) {
	k, err := h.o.Service.ActivationKey(r.Context(), acct.ID)
	if err != nil {
		h.internal(w, "activation key", err)
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, map[string]string{"activation_key": k})
}

// ActivateRequest is the body of POST /api/v1/activate.
type ActivateRequest struct {
	ActivationKey string `json:"activation_key"`
	MachineID     string `json:"machine_id"`
}

func (h *Handler) activate(w http.ResponseWriter, r *http.Request, acct storage.Account) {
	var req ActivateRequest
	if err := jsonapi.DecodeJSON(w, r, MaxRequestBody, &req); err != nil {
		jsonapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	doc, a, err := h.o.Service.ActivateWithKey(r.Context(), acct, req.ActivationKey, req.MachineID)
	var seats *SeatsError
	switch {
	case errors.As(err, &seats), errors.Is(err, ErrWrongKey):
		h.log.Info("client activation refused", "account", acct.Address, "reason", err.Error())
		jsonapi.WriteError(w, http.StatusForbidden, err.Error())
		return
	case errors.Is(err, ErrMachineID):
		jsonapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		h.internal(w, "activate", err)
		return
	}
	h.log.Info("client activated", "account", acct.Address, "activation", a.ID)
	jsonapi.WriteJSON(w, http.StatusOK, doc)
}

// PublicKeyDoc publishes the license verification key.
type PublicKeyDoc struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"` // base64 of the 32-byte key
	PEM       string `json:"pem"`
}

// PublicKeyDocument returns the publication of the service's key.
func (s *Service) PublicKeyDocument() PublicKeyDoc {
	pub := s.PublicKey()
	return PublicKeyDoc{Algorithm: Algorithm, KeyID: KeyID(pub),
		PublicKey: base64.StdEncoding.EncodeToString(pub), PEM: PublicKeyPEM(pub)}
}

func (h *Handler) publicKey(w http.ResponseWriter, r *http.Request) {
	jsonapi.WriteJSON(w, http.StatusOK, h.o.Service.PublicKeyDocument())
}

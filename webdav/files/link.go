package files

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
)

// LinkOptions configures a LinkHandler.
type LinkOptions struct {
	Store storage.Store
	// Prefix is the URL path the handler is mounted at ("/webdav/link/").
	Prefix string
	Logger *slog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// LinkHandler serves download links (storage.Links, SmartAttach) without
// login: GET or HEAD <Prefix><token>[/<file name>]. The token alone
// decides; the file name is only there for people and browsers. Answers:
//
//   - 200/206/304: the file's content as it was when the link was made,
//     with Range and conditional requests (http.ServeContent), as an
//     attachment (Content-Disposition) that browsers never render in the
//     server's origin (Content-Security-Policy sandbox, nosniff);
//   - 404: no link has this token (or it is malformed);
//   - 410: the link expired or was revoked, or its file was deleted,
//     renamed or changed since.
//
// Tokens never reach the log (the server's access log is told to write
// the prefix only).
type LinkHandler struct {
	o   LinkOptions
	log *slog.Logger
}

// NewLinkHandler returns a LinkHandler.
func NewLinkHandler(o LinkOptions) *LinkHandler {
	if o.Prefix == "" {
		o.Prefix = "/webdav/link/"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LinkHandler{o: o, log: log}
}

// maxTokenLen bounds a token before it is hashed; tokens made by
// storage.NewLinkToken are 32 characters.
const maxTokenLen = 128

// validToken reports whether t looks like a link token (URL-safe base64).
func validToken(t string) bool {
	if len(t) < 16 || len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (h *LinkHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, h.o.Prefix)
	token, _, _ := strings.Cut(rest, "/")
	if !validToken(token) {
		http.Error(w, "no such link", http.StatusNotFound)
		return
	}
	ctx := r.Context()
	st := h.o.Store
	l, err := st.LinkByToken(ctx, storage.HashLinkToken(token))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		http.Error(w, "no such link", http.StatusNotFound)
		return
	case err != nil:
		h.log.Error("download link lookup failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if !l.Live(h.o.Now()) {
		http.Error(w, "this link has expired or was revoked", http.StatusGone)
		return
	}
	f, err := st.File(ctx, l.Mailbox, l.Name)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrNoMailbox), err == nil && f.Content != l.Content:
		http.Error(w, "the file of this link was removed or changed", http.StatusGone)
		return
	case err != nil:
		h.log.Error("download link: file lookup failed", "link", l.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	b, err := st.OpenBlob(ctx, f.Content)
	if err != nil {
		h.log.Error("download link: opening the file failed", "link", l.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer b.Close()
	hd := w.Header()
	ctype := f.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	hd.Set("ETag", f.ETag)
	hd.Set("Cache-Control", "private, no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Robots-Tag", "noindex, nofollow")
	h.log.Debug("download link served", "link", l.ID, "method", r.Method, "range", r.Header.Get("Range") != "")
	http.ServeContent(w, r, "", f.Modified, b)
}

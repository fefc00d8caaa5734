package settings

import (
	"embed"
	"io/fs"
	"net/http"
)

// The settings page: one HTML document, a stylesheet and a small script,
// embedded in the binary (no build step). The script talks to /api/v1/.

//go:embed web
var webFiles embed.FS

// pageCSP allows only this origin's script and style: no inline code.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (h *Handler) mountPage(m *http.ServeMux) {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	static := http.FileServerFS(sub)
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", pageCSP)
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	}
	m.HandleFunc("GET /{$}", page)
	m.HandleFunc("GET /index.html", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /static/", page)
}

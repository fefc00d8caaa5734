package httpd

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"time"
)

// maxLoggedPath bounds the path written to the access log.
const maxLoggedPath = 256

// reqInfo is what inner handlers tell the access log: the authenticated
// user, and the path to write instead of the request's (LogPath).
type reqInfo struct{ user, path string }

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(infoKey{}).(*reqInfo)
	return i
}

// accessLog writes one line per request when it completes: method, path
// (never the query string, which may carry tokens), status, bytes written,
// duration, the authenticated user and the remote address. Credentials
// (the Authorization header) are never logged.
func accessLog(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{}
		rec := &recorder{ResponseWriter: w}
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			path := r.URL.Path
			if info.path != "" {
				path = info.path
			}
			if len(path) > maxLoggedPath {
				path = path[:maxLoggedPath] + "..."
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method),
				slog.String("path", path),
				slog.Int("status", status),
				slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("user", info.user),
				slog.String("remote", r.RemoteAddr),
				slog.String("proto", r.Proto))
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
	})
}

// recorder records the status and size of a response. It passes Flush
// and Hijack through, and Unwrap lets http.ResponseController reach the
// connection's other features.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		if r.status == 0 {
			r.status = http.StatusOK
		}
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := r.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.ErrUnsupported
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func stack() string { return string(debug.Stack()) }

// tcpAddr turns an http.Request's RemoteAddr into a net.Addr (nil when it
// does not parse) for server/auth's policy checks.
func tcpAddr(remoteAddr string) net.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

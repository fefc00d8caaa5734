package server

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/floemail/floe/server/config"
)

// ParseLevel parses a [log] level: debug, info, warn (or warning), error.
// The empty string means info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("unknown log level %q; use debug, info, warn or error", s)
}

// NewLogger returns a logger writing to w in the [log] format (text or json)
// at a level held in level, which the caller may change later (reload). It
// sets level from cfg.
func NewLogger(cfg config.Log, w io.Writer, level *slog.LevelVar) (*slog.Logger, error) {
	l, err := ParseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(strings.TrimSpace(cfg.Format)) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q; use text or json", cfg.Format)
}

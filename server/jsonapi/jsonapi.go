// Package jsonapi holds what Floe's small JSON-over-HTTPS APIs share (the
// client services on 5229 and the user settings API): writing answers and
// errors as JSON, and reading a bounded JSON request body strictly.
//
// Errors are always {"error": "message"} with a message meant for the
// user; internal error text never reaches a client.
package jsonapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// WriteError writes {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// DecodeJSON reads a JSON object of at most max bytes into v, refusing
// unknown fields and trailing data; the error text is meant for the
// client.
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return errors.New("request body too large")
		}
		return errors.New("request body is not the expected JSON object: " + jsonReason(err))
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("request body has data after the JSON object")
	}
	return nil
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error"
	case errors.As(err, &te) && te.Field == "":
		return "expected a JSON object, got " + te.Value
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case errors.Is(err, io.EOF):
		return "empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed"
}

package jsonapi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecodeJSONErrors: every refused body is explained without the
// decoder's internal text (Go type names, "json:").
func TestDecodeJSONErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, want string }{
		{`[1,2]`, "request body is not the expected JSON object: expected a JSON object, got array"},
		{`"x"`, "request body is not the expected JSON object: expected a JSON object, got string"},
		{`5`, "request body is not the expected JSON object: expected a JSON object, got number"},
		{`{"label": 5}`, "request body is not the expected JSON object: field label has the wrong type"},
		{`{"zzz": 1}`, `request body is not the expected JSON object: unknown field "zzz"`},
		{`{not json`, "request body is not the expected JSON object: syntax error"},
		{``, "request body is not the expected JSON object: empty body"},
		{`{} {}`, "request body has data after the JSON object"},
		{`{"label":"` + strings.Repeat("a", 100) + `"}`, "request body too large"},
	} {
		var v struct {
			Label string `json:"label"`
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		err := DecodeJSON(httptest.NewRecorder(), r, 64, &v)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %q", tc.body, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "json:") || strings.Contains(err.Error(), "Go ")) {
			t.Errorf("%q: internal text %q", tc.body, err)
		}
	}
}

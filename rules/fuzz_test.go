package rules

import (
	"context"
	"testing"
	"time"
)

func fuzzEvaluate(t *testing.T, s *Settings, src Source) {
	p, err := Compile(s, src, Options{})
	if err != nil {
		return
	}
	cx := baseCtx()
	cx.Now = time.Date(2018, 6, 18, 9, 30, 0, 0, time.UTC)
	Evaluate(context.Background(), []Stage{{LevelAccount, p}}, msg(sample), cx)
	// What parsed must survive its own export.
	for _, enc := range []func(*Settings) ([]byte, error){MarshalTOML, MarshalJSON} {
		out, err := enc(s)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, _, err := Parse("out", out); err != nil {
			t.Fatalf("re-parse of\n%s\n%v", out, err)
		}
	}
}

func FuzzParseTOML(f *testing.F) {
	f.Add(navyTOML)
	f.Add(mikeResponder)
	f.Add("[[rules]]\nconditions = [{ if = \"subject\", regex = '\\d+', not = true }]\nactions = [{ do = \"flags\", flags = ['\\Seen'] }]\n")
	f.Add("[[rules]]\n[[rules.conditions]]\nif = \"local_time\"\ndays = [\"mon\"]\nhours = \"22:00-06:00\"\n[[rules.actions]]\ndo = \"reject\"\n")
	f.Fuzz(func(t *testing.T, doc string) {
		s, src, err := ParseTOML("f.toml", []byte(doc))
		if err != nil {
			return
		}
		fuzzEvaluate(t, s, src)
	})
}

func FuzzParseJSON(f *testing.F) {
	f.Add(navyJSON)
	f.Add(`{"rules":[{"conditions":[{"if":"size","greater":10}],"actions":[{"do":"spam"}]}]}`)
	f.Add(`{"responder":{"mode":"again_after","again_after_days":7,"text":"x"}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		s, src, err := ParseJSON("f.json", []byte(doc))
		if err != nil {
			return
		}
		fuzzEvaluate(t, s, src)
	})
}

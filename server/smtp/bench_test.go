package smtp

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/config"
)

// BenchmarkDeliverySMTP sends 5 KB messages from parallel go-smtp clients
// (4 per GOMAXPROCS; vary with -cpu) through real TCP to
// the real server, each one durably stored in SQLite before its 250.
// Each client reuses its connection; the reported rate is msgs/s.
func BenchmarkDeliverySMTP(b *testing.B) {
	e := newEnv(b, envOptions{config: func(c *config.Config) {
		c.SMTP.MaxMessagesPerConnection = 0 // unlimited
	}})
	body := strings.Repeat("The quick brown fox jumps over the lazy dog. 0123456789\r\n", 5*1024/57)
	msg := message("bench", body)
	rcpts := []string{"alice@example.test"}
	var sent atomic.Int64
	b.SetBytes(int64(len(msg)))
	b.SetParallelism(4) // 4 clients per GOMAXPROCS: delivery waits on fsync
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c, err := gosmtp.Dial(e.addr[MX])
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if err := send(c, "sender@remote.test", rcpts, msg); err != nil {
				b.Error(err)
				return
			}
			sent.Add(1)
		}
		_ = c.Quit()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(sent.Load())/elapsed.Seconds(), "msgs/s")
}

// benchRulesDoc is the rule document of the rules benchmark
// (.ci/bench-rules.sh): 48 string tests and a regex that do not match, and
// a move into "Bench" that matches every message.
func benchRulesDoc() string {
	fields := []string{"from", "to", "subject", "cc", "header", "body", "sender", "recipient", "attachment_name"}
	tests := []string{"contains", "starts_with", "ends_with", "equals"}
	var b strings.Builder
	for i := range 48 {
		f, t := fields[i%len(fields)], tests[i%len(tests)]
		extra := ""
		if f == "header" {
			extra = `, header = "X-Mailer"`
		}
		fmt.Fprintf(&b, "[[rules]]\ntitle = \"string test %d\"\nconditions = [{ if = %q, %s = \"no-match-%d;never-%d\"%s }]\nactions = [{ do = \"flags\", flags = [\"$R%d\"] }]\n", i, f, t, i, i, extra, i)
	}
	b.WriteString("[[rules]]\ntitle = \"regex\"\nconditions = [{ if = \"subject\", regex = '^\\[(ticket|case) #[0-9]+\\]' }]\nactions = [{ do = \"stop\" }]\n")
	b.WriteString("[[rules]]\ntitle = \"move\"\nconditions = [{ if = \"subject\", starts_with = \"floe-bench\" }]\nactions = [{ do = \"move\", folder = \"Bench\" }]\n")
	return b.String()
}

// BenchmarkDeliveryRules is BenchmarkDeliverySMTP to an account with the
// 50 rules of the rules benchmark (rules50) beside one without (none), in
// one server; the arrival checks are off, as in .ci/bench-rules.sh.
func BenchmarkDeliveryRules(b *testing.B) {
	e := newEnv(b, envOptions{config: func(c *config.Config) {
		c.SMTP.MaxMessagesPerConnection = 0
		c.Checks.Enabled = false
	}})
	e.setRules("bob@example.test", benchRulesDoc())
	body := strings.Repeat("The quick brown fox jumps over the lazy dog. 0123456789\r\n", 5*1024/57)
	msg := message("floe-bench message", body)
	ruled := false
	for _, tc := range []struct{ name, rcpt string }{{"none", "alice@example.test"}, {"rules50", "bob@example.test"}} {
		b.Run(tc.name, func(b *testing.B) {
			ruled = ruled || tc.name == "rules50"
			var sent atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				c, err := gosmtp.Dial(e.addr[MX])
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for pb.Next() {
					if err := send(c, "sender@remote.test", []string{tc.rcpt}, msg); err != nil {
						b.Error(err)
						return
					}
					sent.Add(1)
				}
				_ = c.Quit()
			})
			b.ReportMetric(float64(sent.Load())/time.Since(start).Seconds(), "msgs/s")
		})
	}
	if n := len(e.folder("bob@example.test", "Bench")); ruled && n == 0 {
		b.Fatal("the move rule filed nothing into Bench")
	}
}

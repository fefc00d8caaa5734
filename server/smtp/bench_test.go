package smtp

import (
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

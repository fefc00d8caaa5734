package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// DSN actions (RFC 3464 2.3.3).
const (
	actionFailed  = "failed"
	actionDelayed = "delayed"
	actionRelayed = "relayed"
)

// maxReturnedBody is the largest original message returned whole in a
// DSN; larger ones are returned as headers only.
const maxReturnedBody = 10 << 20

// sendDSN builds a delivery status notification about the recipients
// rcpts of e and delivers it to e.From: into the sender's INBOX when the
// sender is local, else through the queue with the null return path. It
// never sends one for the null sender (RFC 3461 5.2: never bounce a
// bounce). Errors are logged: a lost notification must not block the
// queue.
func (q *Queue) sendDSN(ctx context.Context, e *storage.QueueEntry, action string, rcpts []int, now time.Time) {
	if e.From == "" || len(rcpts) == 0 {
		return
	}
	log := q.log.With("queue_id", e.ID, "dsn", action, "to", e.From)
	msg, err := q.buildDSN(ctx, e, action, rcpts, now)
	if err != nil {
		log.Error("cannot build DSN", "err", err)
		return
	}
	ref, err := ingest.Spool(ctx, q.store, bytes.NewReader(msg))
	if err != nil {
		log.Error("cannot store DSN", "err", err)
		return
	}
	local := false
	if q.local != nil {
		local, err = q.local.DeliverLocal(ctx, "", e.From, ref)
	}
	if local {
		if err != nil {
			ingest.Discard(ctx, q.store, ref.ID)
			log.Warn("DSN not delivered to the local sender", "err", err)
			return
		}
		log.Info("DSN delivered locally")
		return
	}
	id, err := q.store.Enqueue(ctx, storage.QueueEntry{
		Blob: ref.ID, Size: ref.Size, From: "", NextAttempt: q.now(),
		Recipients: []storage.QueueRecipient{{Address: e.From}},
	})
	if err != nil {
		ingest.Discard(ctx, q.store, ref.ID)
		log.Error("cannot queue DSN", "err", err)
		return
	}
	q.queued.Add(1)
	q.Flush()
	log.Info("DSN queued", "dsn_queue_id", id)
}

// buildDSN composes a multipart/report DSN (RFC 3464, RFC 6522).
func (q *Queue) buildDSN(ctx context.Context, e *storage.QueueEntry, action string, rcpts []int, now time.Time) ([]byte, error) {
	host := q.hostname()
	boundary := randomHex(12)
	var b bytes.Buffer
	subject := map[string]string{
		actionFailed:  "Undelivered Mail Returned to Sender",
		actionDelayed: "Delayed Mail (still being retried)",
		actionRelayed: "Successful Mail Delivery Report",
	}[action]
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host)
	fmt.Fprintf(&b, "To: <%s>\r\n", e.From)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", randomHex(16), host)
	b.WriteString("Auto-Submitted: auto-replied\r\n") // RFC 3834 5
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a MIME-encapsulated message.\r\n\r\n")

	// Part 1: for humans.
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Description: Notification\r\n\r\n", boundary)
	var human strings.Builder
	fmt.Fprintf(&human, "This is the mail system at %s.\n\n", host)
	switch action {
	case actionFailed:
		human.WriteString("Your message could not be delivered to one or more recipients.\nIt is attached below. The problems were:\n\n")
	case actionDelayed:
		fmt.Fprintf(&human, "Your message has not been delivered yet to one or more recipients.\nDelivery will be retried until %s; you need not send it again.\n\n",
			e.Created.Add(q.cfg().Outbound.MaxQueueTime.D()).Format(time.RFC1123Z))
	case actionRelayed:
		human.WriteString("Your message was handed over to the following recipients' mail servers,\nwhich do not send delivery notifications themselves:\n\n")
	}
	for _, i := range rcpts {
		r := e.Recipients[i]
		fmt.Fprintf(&human, "<%s>", r.Address)
		if r.Error != "" && action != actionRelayed {
			fmt.Fprintf(&human, ": %s", r.Error)
		}
		human.WriteString("\n")
	}
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(human.String(), "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n\r\n")

	// Part 2: message/delivery-status (RFC 3464 2.1; message/global-
	// delivery-status, RFC 6533, for UTF-8 addresses).
	statusType := "message/delivery-status"
	if !isASCIIAll(e, rcpts) {
		statusType = "message/global-delivery-status"
	}
	fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\nContent-Description: Delivery report\r\n\r\n", boundary, statusType)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", host)
	if e.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", e.EnvID)
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", e.Created.Format(time.RFC1123Z))
	for _, i := range rcpts {
		r := e.Recipients[i]
		b.WriteString("\r\n")
		addrType := "rfc822"
		if !isASCII(r.Address) {
			addrType = "utf-8"
		}
		fmt.Fprintf(&b, "Final-Recipient: %s; %s\r\n", addrType, r.Address)
		if r.ORcpt != "" {
			t, a, _ := strings.Cut(r.ORcpt, ";")
			fmt.Fprintf(&b, "Original-Recipient: %s; %s\r\n", t, a)
		}
		fmt.Fprintf(&b, "Action: %s\r\n", action)
		fmt.Fprintf(&b, "Status: %s\r\n", dsnStatus(action, r.Error))
		if r.RemoteMTA != "" {
			fmt.Fprintf(&b, "Remote-MTA: dns; %s\r\n", r.RemoteMTA)
		}
		if r.RemoteReply != "" {
			fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\n", oneLine(r.RemoteReply))
		} else if r.Error != "" && action != actionRelayed {
			fmt.Fprintf(&b, "Diagnostic-Code: X-Floe; %s\r\n", oneLine(r.Error))
		}
		fmt.Fprintf(&b, "Last-Attempt-Date: %s\r\n", now.Format(time.RFC1123Z))
		if action == actionDelayed {
			fmt.Fprintf(&b, "Will-Retry-Until: %s\r\n", e.Created.Add(q.cfg().Outbound.MaxQueueTime.D()).Format(time.RFC1123Z))
		}
	}
	b.WriteString("\r\n")

	// Part 3: the original message, or its header (RET, RFC 3461 4.3).
	blob, err := q.store.OpenBlob(ctx, e.Blob)
	if err != nil {
		return nil, err
	}
	defer blob.Close()
	headersOnly := e.Ret == "HDRS" || action != actionFailed || e.Size > maxReturnedBody
	if headersOnly {
		hdrType := "text/rfc822-headers"
		if e.UTF8 {
			hdrType = "message/global-headers" // RFC 6533 6.3
		}
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\nContent-Description: Headers of the undelivered message\r\n\r\n", boundary, hdrType)
		br := bufio.NewReader(io.LimitReader(blob, 1<<20))
		for {
			line, err := br.ReadString('\n')
			if strings.TrimRight(line, "\r\n") == "" {
				break
			}
			b.WriteString(strings.TrimRight(line, "\r\n") + "\r\n")
			if err != nil {
				break
			}
		}
	} else {
		msgType := "message/rfc822"
		if e.UTF8 {
			msgType = "message/global"
		}
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\nContent-Description: Undelivered message\r\n\r\n", boundary, msgType)
		if _, err := io.Copy(&b, blob); err != nil {
			return nil, err
		}
		if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
			b.WriteString("\r\n")
		}
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// dsnStatus returns the RFC 3463 status code of a recipient for a DSN.
func dsnStatus(action, errText string) string {
	if action == actionRelayed {
		return "2.0.0"
	}
	if f, _, _ := strings.Cut(errText, " "); isStatus(f) {
		return f // 4.4.7 for an expiry (RFC 3463)
	}
	if action == actionDelayed {
		return "4.0.0"
	}
	return "5.0.0"
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isASCIIAll(e *storage.QueueEntry, rcpts []int) bool {
	for _, i := range rcpts {
		if !isASCII(e.Recipients[i].Address) || !isASCII(e.Recipients[i].ORcpt) {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Package imap is Floe's IMAP server: IMAP4rev2 (RFC 9051) and IMAP4rev1
// (RFC 3501) with the extensions listed by capabilities() in session.go.
// Floe parses and encodes IMAP itself (ARCHITECTURE decision 1) and reuses
// go-imap v2's imap package types (NumSet, SearchCriteria, ...).
//
// Structure: server.go accepts connections and shuts down; session.go runs
// one goroutine per connection (read a command, dispatch through the command
// table, write pending unilateral updates, write the tagged response; flush
// when no pipelined input is waiting); decoder.go and encoder.go are the
// wire syntax; selected.go is the per-session view of the selected mailbox
// (sequence numbers, pending EXISTS/EXPUNGE/VANISHED/FETCH fed by the
// account's storage change subscription); cmd_*.go are the command families.
//
// Decisions:
//   - Unilateral updates come from storage's change stream, which publishes
//     before a storage call returns: after a command, the session's own
//     changes are in the stream too. Handlers that already reported a flag
//     change call noteOwnChange so it is not reported twice; expunges the
//     session caused are reported through noteExpunged and flushUpdates.
//   - Before authentication lines are limited to 8 KiB and string literals
//     to 64 KiB; ten BAD responses close the connection. After it, lines are
//     limited to 1 MiB, string literals to 4 MiB, and APPEND's message to
//     APPENDLIMIT ([smtp] max_message_size).
//   - A connection costs one goroutine, a 4 KiB read buffer and the
//     subscription; the write buffer comes from a pool per response batch.
package imap

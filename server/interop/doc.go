// Package interop holds Floe's end-to-end test harnesses; it has no code
// outside its tests.
//
// interop_test.go starts the whole server in-process on random loopback ports
// (with its generated self-signed certificate) and drives it with external
// programs: swaks, curl, fetchmail, and Python's smtplib and poplib. It checks
// what was stored by reading the SQLite store directly. A missing program
// skips its test, except with CI=true, where it fails (the CI script installs
// them: apt-get install swaks curl fetchmail python3).
//
// crash_test.go builds the floe binary, delivers mail to it from concurrent
// SMTP clients and kills it with SIGKILL at random moments, over and over; at
// the end every message that was acknowledged with 250 must be stored exactly
// once, and `floe check` must pass. It is bounded by FLOE_CRASH_SECONDS
// (default 60) and FLOE_CRASH_ROUNDS, and skipped with -short.
//
// The load tool that measures throughput is cmd/floe-bench; .ci/bench.sh runs
// it against Floe and its baselines.
package interop

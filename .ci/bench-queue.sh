#!/usr/bin/env bash
# Outbound queue benchmark (part of `make bench`, called at the end of
# .ci/bench.sh; BENCH_QUEUE=0 skips it). In one run, against one local
# Postfix smtp-sink, it measures:
#   - raw:   smtp-source sending straight to the sink over C sessions, each
#            session reused for many messages (-d): the rate the sink and
#            loopback TCP allow;
#   - queue: N messages submitted to `floe serve` (submission port, AUTH) for
#            a remote recipient, relayed by the outbound queue to the sink as
#            smarthost with C connections; the rate is N divided by the time
#            from the first submission until the queue is empty (`floe queue
#            list`), i.e. durable queueing plus delivery plus the bookkeeping.
#   - drain: N more messages queued while the sink is paused (SIGSTOP), then
#            the time from resuming it until the queue is empty: delivery
#            alone, from a full queue.
# It prints the submission rate separately and the ratios to raw.
#
# smtp-sink and smtp-source come from the Debian postfix package, fetched
# with `apt-get download` and unpacked into the temporary directory (Postfix
# is neither installed nor started); they run with LD_LIBRARY_PATH pointing
# at the package's own shared libraries. When that does not work, the sink
# is `floe-bench sink` and the raw rate is floe-bench's SMTP load against
# it (the output says so).
#
# Environment: BENCH_QUEUE (0 skips), BENCH_QUEUE_N (messages, 2000),
# BENCH_QUEUE_C (connections, 20), BENCH_SIZE (message size, 5120),
# BENCH_QUEUE_TIMEOUT (seconds to wait for the queue to empty, 120),
# BENCH_QUEUE_POLL (the [outbound] poll_interval, default Floe's own),
# BENCH_FLOE_BIN and BENCH_FLOE_BENCH_BIN (prebuilt binaries; default: build).
set -euo pipefail

if [ "${BENCH_QUEUE:-1}" = "0" ]; then
	echo "== queue benchmark skipped (BENCH_QUEUE=0)"
	exit 0
fi

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
N=${BENCH_QUEUE_N:-2000}
C=${BENCH_QUEUE_C:-20}
SIZE=${BENCH_SIZE:-5120}
DRAIN_TIMEOUT=${BENCH_QUEUE_TIMEOUT:-120}

work=$(mktemp -d "${TMPDIR:-/tmp}/floe-bench-queue.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# now: seconds since the epoch with microseconds.
now() { echo "$EPOCHREALTIME"; }
rate() { awk -v n="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.1f", n / (e - s) }'; }


. .ci/bench-lib.sh
build_bins "$work"

# fetch_postfix: unpack the postfix package into $work/postfix and check
# that smtp-sink and smtp-source run with its libraries; fails otherwise
# (the reason in $work/postfix.log).
pf="$work/postfix"
fetch_postfix() {
	local log="$work/postfix.log"
	mkdir -p "$pf/deb"
	command -v apt-get >/dev/null || { echo "apt-get not found" >"$log"; return 1; }
	if ! apt-cache show postfix >/dev/null 2>&1; then
		apt-get update -qq >>"$log" 2>&1 || return 1
	fi
	# apt's unprivileged _apt user cannot write into our private directory;
	# the download then runs as the invoking user (a harmless warning).
	(cd "$pf/deb" && timeout 60 apt-get download -q postfix) >>"$log" 2>&1 || return 1
	dpkg-deb -x "$pf"/deb/postfix_*.deb "$pf/x" >>"$log" 2>&1 || return 1
	export LD_LIBRARY_PATH="$pf/x/usr/lib/postfix${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	local b
	for b in smtp-sink smtp-source; do
		[ -x "$pf/x/usr/sbin/$b" ] || { echo "$b missing from the package" >>"$log"; return 1; }
		if ldd "$pf/x/usr/sbin/$b" | grep -q 'not found'; then
			ldd "$pf/x/usr/sbin/$b" | grep 'not found' >>"$log"
			return 1
		fi
	done
}

read -r -a ports <<<"$("$fb" ports -n 3 | tr '\n' ' ')"
sink_addr="127.0.0.1:${ports[2]}"
sink_out="$work/sink.out"
postfix=1
echo "== fetching Postfix smtp-sink/smtp-source (apt-get download postfix; not installed)"
if ! fetch_postfix; then
	postfix=0
	echo "== Postfix tools unavailable ($(tail -1 "$work/postfix.log" 2>/dev/null)); FALLBACK: floe-bench sink as the sink, floe-bench smtp as the raw load"
fi

# sink_count: messages the sink has accepted so far (Postfix only: smtp-sink
# -c rewrites "sess=.. quit=.. mesg=N" with carriage returns).
sink_count() {
	local n
	n=$(tail -c 200 "$sink_out" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1)
	echo "${n:-0}"
}

if [ "$postfix" = 1 ]; then
	sink_args=(-c)
	# As root smtp-sink switches to the user "postfix" unless told otherwise.
	[ "$(id -u)" = 0 ] && sink_args+=(-u nobody)
	"$pf/x/usr/sbin/smtp-sink" "${sink_args[@]}" "$sink_addr" 256 >"$sink_out" 2>"$work/sink.err" &
else
	"$fb" sink -listen "$sink_addr" >"$sink_out" 2>"$work/sink.err" &
fi
sink_pid=$!
pids+=("$sink_pid")
wait_port "$sink_addr"

# Raw baseline: the same message count, size and concurrency, no Floe.
if [ "$postfix" = 1 ]; then
	before=$(sink_count)
	t0=$(now)
	if ! timeout 60 "$pf/x/usr/sbin/smtp-source" -d -c -l "$SIZE" -m "$N" -s "$C" \
		-f bench@example.test -t b@remote.test "$sink_addr" >"$work/source.out" 2>&1; then
		echo "smtp-source failed:" >&2
		tail -c 500 "$work/source.out" >&2
		exit 1
	fi
	t1=$(now)
	sleep 0.2
	got=$(($(sink_count) - before))
	if [ "$got" != "$N" ]; then
		echo "smtp-sink counted $got of $N messages from smtp-source" >&2
		exit 1
	fi
	raw=$(rate "$N" "$t0" "$t1")
	raw_line="raw    smtp-source  c=$C n=$N size=$SIZE  msgs/s=$raw"
else
	line=$("$fb" smtp -label sink -addr "$sink_addr" -from bench@example.test -to b@remote.test -c "$C" -n "$N" -size "$SIZE")
	raw=$(echo "$line" | sed -E 's/.*msgs\/s=([0-9.]+).*/\1/')
	raw_line="raw    floe-bench   c=$C n=$N size=$SIZE  msgs/s=$raw  (fallback: floe-bench sink)"
fi

# Floe: submission on loopback (AUTH without TLS is allowed there), every
# remote recipient relayed to the sink.
poll_line=""
if [ -n "${BENCH_QUEUE_POLL:-}" ]; then
	poll_line="poll_interval = \"$BENCH_QUEUE_POLL\""
fi
cat >"$work/floe.toml" <<EOF
[server]
hostname = "localhost"
data_dir = "$work/data"
shutdown_timeout = "10s"

[listeners]
smtp = "127.0.0.1:${ports[0]}"
submission = "127.0.0.1:${ports[1]}"
submissions = ""
pop3 = ""
pop3s = ""
imap = ""
imaps = ""
http = ""
https = ""
clientsvc = ""
admin = ""

[smtp]
max_messages_per_connection = 10000000
max_connections_per_ip = 10000

[outbound]
smarthost = "$sink_addr"
smarthost_tls = "none"
max_per_domain = $C
max_connections = $C
$poll_line

[log]
level = "warn"

[[domain]]
name = "example.test"
EOF
echo "bench-password" | "$floe" account add bench@example.test --password-stdin --config "$work/floe.toml" >/dev/null

"$floe" serve --config "$work/floe.toml" >"$work/floe.log" 2>&1 &
floe_pid=$!
pids+=("$floe_pid")
wait_port "127.0.0.1:${ports[1]}"

# queue_empty: `floe queue list` reports no entries.
queue_empty() {
	"$floe" queue list --config "$work/floe.toml" 2>>"$work/queue-list.err" | grep -q 'queue is empty'
}

# submit LABEL: N messages through the submission port; prints floe-bench's line.
submit() {
	local line
	if ! line=$("$fb" smtp -label "$1" -addr "127.0.0.1:${ports[1]}" -auth bench@example.test:bench-password \
		-from bench@example.test -to b@remote.test -c "$C" -n "$N" -size "$SIZE"); then
		echo "submission failed: $line" >&2
		tail -20 "$work/floe.log" >&2
		return 1
	fi
	echo "$line"
}

# drain TARGET: wait until the sink counted TARGET messages (smtp-sink only;
# cheap to poll) and then until the queue is empty (Floe recorded the
# deliveries); sets t_sink and t_empty.
drain() {
	local deadline=$((SECONDS + DRAIN_TIMEOUT))
	if [ "$postfix" = 1 ]; then
		while [ "$(sink_count)" -lt "$1" ] && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.01
		done
	fi
	t_sink=$(now)
	until queue_empty; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "the queue did not empty within ${DRAIN_TIMEOUT}s:" >&2
			"$floe" queue list --config "$work/floe.toml" 2>&1 | head -5 >&2
			tail -20 "$work/floe.log" >&2
			return 1
		fi
		sleep 0.02
	done
	t_empty=$(now)
}
secs() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2fs", e - s }'; }
details() { echo "$1" | sed -E 's/.*msgs\/s=[0-9.]+ +//'; }

# Run 1, end to end: submission and delivery overlap; the queue rate is
# bounded by the (durable) submission rate.
before=$(sink_count)
t0=$(now)
sub_line=$(submit floe-submit)
t1=$(now)
drain $((before + N))
sub=$(rate "$N" "$t0" "$t1")
queue=$(rate "$N" "$t0" "$t_empty")
echo "submit floe         c=$C n=$N size=$SIZE  msgs/s=$sub  ($(details "$sub_line"))"
echo "queue  floe->sink   c=$C n=$N size=$SIZE  msgs/s=$queue  (first submission to queue empty: $(secs "$t0" "$t_empty"))"
if [ "$postfix" = 1 ]; then
	got=$(($(sink_count) - before))
	echo "       sink received $got messages, the last $(secs "$t0" "$t_sink") after the first submission"
	if [ "$got" -lt "$N" ]; then
		echo "the sink received only $got of $N messages" >&2
		exit 1
	fi
fi

# Run 2, delivery alone: the sink is paused (SIGSTOP; connections wait in
# its listen backlog) while N messages are queued, then resumed; the rate
# is N over the time from the resume to the queue being empty.
before=$(sink_count)
kill -STOP "$sink_pid"
if ! sub2_line=$(submit floe-submit); then
	kill -CONT "$sink_pid"
	exit 1
fi
sleep 0.5
t0=$(now)
kill -CONT "$sink_pid"
drain $((before + N))
drain_rate=$(rate "$N" "$t0" "$t_empty")
echo "drain  floe->sink   c=$C n=$N size=$SIZE  msgs/s=$drain_rate  (pre-filled queue, sink resumed to queue empty: $(secs "$t0" "$t_empty"))"
if [ "$postfix" = 1 ]; then
	got=$(($(sink_count) - before))
	echo "       sink received $got messages, the last $(secs "$t0" "$t_sink") after the resume"
	if [ "$got" -lt "$N" ]; then
		echo "the sink received only $got of $N messages" >&2
		exit 1
	fi
fi
echo "$raw_line"
echo "ratio  queue/raw=$(awk -v q="$queue" -v r="$raw" 'BEGIN { printf "%.3f", q / r }')  drain/raw=$(awk -v q="$drain_rate" -v r="$raw" 'BEGIN { printf "%.3f", q / r }')  submit/raw=$(awk -v q="$sub" -v r="$raw" 'BEGIN { printf "%.3f", q / r }')"

kill -TERM "$floe_pid"
if ! wait "$floe_pid"; then
	echo "floe serve did not exit cleanly; log:" >&2
	tail -50 "$work/floe.log" >&2
	exit 1
fi
pids=("$sink_pid")
if grep -q -E 'level=(ERROR|WARN)' "$work/floe.log"; then
	echo "== floe logged warnings or errors:"
	grep -E 'level=(ERROR|WARN)' "$work/floe.log" | head -20
fi

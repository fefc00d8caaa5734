#!/usr/bin/env bash
# Floe benchmark suite (`make bench`). It measures, on this machine:
#   - fsync: the disk baseline (c writers each writing and fsyncing 5 KB files);
#   - sink:  the protocol baseline (an SMTP server that discards, no durability);
#   - floe:  durable local delivery through `floe serve` (SMTP on loopback);
#   - dovecot: Dovecot's LMTP delivery, when dovecot-lmtpd is installed
#     (BENCH_DOVECOT=install installs it with apt-get; BENCH_DOVECOT=0 skips);
# each at c=1,4,20 concurrent connections, three runs each, printing every run
# and the median, with the ratios floe/sink and floe/fsync; then the Go
# benchmarks of the storage, smtp and mimeparse packages.
#
# Environment: BENCH_N (messages per run, default 2000), BENCH_SIZE (5120),
# BENCH_CONNS ("1 4 20"), BENCH_RUNS (3), BENCH_GO (1: run Go benchmarks),
# BENCH_BENCHTIME (2s), BENCH_DOVECOT (auto|install|0).
set -euo pipefail

cd "$(dirname "$0")/.."
N=${BENCH_N:-2000}
SIZE=${BENCH_SIZE:-5120}
CONNS=${BENCH_CONNS:-"1 4 20"}
RUNS=${BENCH_RUNS:-3}
RUN_GO=${BENCH_GO:-1}
BENCHTIME=${BENCH_BENCHTIME:-2s}
DOVECOT=${BENCH_DOVECOT:-auto}

work=$(mktemp -d "${TMPDIR:-/tmp}/floe-bench.XXXXXX")
pids=()
dovecot_conf=""
cleanup() {
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$dovecot_conf" ]; then
		dovecot -c "$dovecot_conf" stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

. .ci/bench-lib.sh
build_bins "$work"


read -r -a ports <<<"$("$fb" ports -n 6 | tr '\n' ' ')"
cat >"$work/floe.toml" <<EOF
[server]
hostname = "localhost"
data_dir = "$work/data"
shutdown_timeout = "10s"

[listeners]
smtp = "127.0.0.1:${ports[0]}"
submission = "127.0.0.1:${ports[1]}"
submissions = "127.0.0.1:${ports[2]}"
pop3 = "127.0.0.1:${ports[3]}"
pop3s = "127.0.0.1:${ports[4]}"
imap = ""
imaps = ""
http = ""
https = ""
clientsvc = ""
admin = ""

[smtp]
max_messages_per_connection = 10000000
max_connections_per_ip = 10000

# The delivery benchmark measures storage and protocol, not DNS: arrival
# checks (SPF/DKIM/DMARC lookups) would time out on a machine without DNS.
[checks]
enabled = false

[log]
level = "warn"

[[domain]]
name = "example.test"
EOF

rcpts=""
for i in 1 2 3 4; do
	echo "bench-password-$i" | "$floe" account add "bench$i@example.test" --password-stdin --config "$work/floe.toml" >/dev/null
	rcpts="$rcpts${rcpts:+,}bench$i@example.test"
done

"$floe" serve --config "$work/floe.toml" >"$work/floe.log" 2>&1 &
pids+=($!)
floe_addr="127.0.0.1:${ports[0]}"
wait_port "$floe_addr"

sink_addr="127.0.0.1:${ports[5]}"
"$fb" sink -listen "$sink_addr" >/dev/null &
pids+=($!)
wait_port "$sink_addr"

# Optional external baseline: Dovecot LMTP into Maildir.
dovecot_addr=""
start_dovecot() {
	if [ "$DOVECOT" = "0" ]; then
		echo "== dovecot baseline skipped (BENCH_DOVECOT=0)"
		return
	fi
	if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/lmtp ]; then
		if [ "$DOVECOT" = "install" ] && [ "$(id -u)" = 0 ]; then
			echo "== installing dovecot-core dovecot-lmtpd"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-core dovecot-lmtpd >/dev/null
		else
			echo "== dovecot baseline skipped: dovecot-lmtpd is not installed (BENCH_DOVECOT=install installs it)"
			return
		fi
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "== dovecot baseline skipped: needs root to run dovecot"
		return
	fi
	local d="$work/dovecot" port
	port=$("$fb" ports -n 1)
	mkdir -p "$d/run" "$d/mail"
	# The mail user (nobody) must reach its Maildir inside our private work dir.
	chmod 0711 "$work" "$d"
	chown nobody:nogroup "$d/mail" 2>/dev/null || chmod 0777 "$d/mail"
	dovecot_conf="$d/dovecot.conf"
	cat >"$dovecot_conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:$d/mail/%n
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
mail_fsync = always
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = home=$d/mail/%n
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $port
  }
}
EOF
	mkdir -p "$d/state"
	if ! dovecot -c "$dovecot_conf" 2>"$d/start.err"; then
		echo "== dovecot baseline skipped: dovecot did not start: $(cat "$d/start.err")"
		dovecot_conf=""
		return
	fi
	dovecot_addr="127.0.0.1:$port"
	wait_port "$dovecot_addr"
}
start_dovecot

# median_line: of the lines on stdin, the one with the median msgs/s.
median_line() {
	awk '{ for (i = 1; i <= NF; i++) if ($i ~ /\/s=/) { split($i, a, "="); print a[2] "\t" $0 } }' |
		sort -g | awk '{ l[NR] = $0 } END { m = l[int((NR + 1) / 2)]; sub(/^[^\t]*\t/, "", m); print m }'
}
rate_of() { sed -E 's/.*\/s=([0-9.]+).*/\1/'; }

echo "== load: n=$N size=$SIZE, $RUNS runs per point, machine: $(nproc) CPUs"
declare -A median
for c in $CONNS; do
	for sys in fsync sink floe dovecot; do
		case $sys in
		fsync) cmd=("$fb" fsync -dir "$work" -c "$c" -n "$N" -size "$SIZE") ;;
		sink) cmd=("$fb" smtp -label sink -addr "$sink_addr" -to "$rcpts" -c "$c" -n "$N" -size "$SIZE") ;;
		floe) cmd=("$fb" smtp -label floe -addr "$floe_addr" -to "$rcpts" -c "$c" -n "$N" -size "$SIZE") ;;
		dovecot)
			[ -n "$dovecot_addr" ] || continue
			cmd=("$fb" smtp -lmtp -label dovecot -addr "$dovecot_addr" -to "$rcpts" -c "$c" -n "$N" -size "$SIZE")
			;;
		esac
		out=""
		for _ in $(seq 1 "$RUNS"); do
			if ! line=$("${cmd[@]}"); then
				echo "   $sys run failed: $line" >&2
				if [ "$sys" != dovecot ]; then
					exit 1
				fi
				[ -n "$dovecot_conf" ] && tail -5 "$work/dovecot/dovecot.log" >&2
				continue 2
			fi
			echo "   $line"
			out+="$line"$'\n'
		done
		m=$(printf '%s' "$out" | median_line)
		median[$sys,$c]=$(echo "$m" | rate_of)
		echo "median $m"
	done
	f=${median[floe,$c]} s=${median[sink,$c]} d=${median[fsync,$c]}
	ratios=$(awk -v f="$f" -v s="$s" -v d="$d" 'BEGIN { printf "floe/sink=%.3f floe/fsync=%.3f", f / s, f / d }')
	if [ -n "${median[dovecot,$c]:-}" ]; then
		ratios+=$(awk -v f="$f" -v v="${median[dovecot,$c]}" 'BEGIN { printf " floe/dovecot=%.3f", f / v }')
	fi
	echo "ratio  c=$c  $ratios"
done

# The sections below reuse these binaries.
export BENCH_FLOE_BIN="$floe" BENCH_FLOE_BENCH_BIN="$fb"

# Rules: .ci/bench-rules.sh (20 senders, 50 rules per recipient vs none).
bash .ci/bench-rules.sh || echo "== rules benchmark: failures above" >&2 # BENCH_RULES=0 skips it

# IMAP: .ci/bench-imap.sh (mix, big mailbox, IDLE latency, idle connections, Dovecot IMAP).
bash .ci/bench-imap.sh || echo "== IMAP benchmark: failures above" >&2 # BENCH_IMAP=0 skips it

# Sharing: .ci/bench-sharing.sh (the mix with shared folders vs without, LIST of 1,000 shared folders).
bash .ci/bench-sharing.sh || echo "== sharing benchmark: failures above" >&2 # BENCH_SHARING=0 skips it

# WebDAV files: .ci/bench-files.sh (rclone up and down, Floe beside x/net/webdav on a directory).
bash .ci/bench-files.sh || echo "== files benchmark: failures above" >&2 # BENCH_FILES=0 skips it

if [ "$RUN_GO" = "1" ]; then
	echo "== Go benchmarks"
	pkgs=()
	for p in ./storage/sqlite ./storage/blob ./storage/mimeparse ./storage/view ./server/smtp ./server/delivery ./rules; do
		[ -d "$p" ] && pkgs+=("$p")
	done
	go test -tags sqlite_fts5 -run XXX -bench . -benchtime "$BENCHTIME" "${pkgs[@]}"
fi

echo "== stopping floe"
kill -TERM "${pids[0]}"
if ! wait "${pids[0]}"; then
	echo "floe serve did not exit cleanly; log:" >&2
	tail -50 "$work/floe.log" >&2
	exit 1
fi
pids=("${pids[@]:1}")
if grep -q -E 'level=(ERROR|WARN)' "$work/floe.log"; then
	echo "== floe logged warnings or errors:"
	grep -E 'level=(ERROR|WARN)' "$work/floe.log" | head -20
fi
[ "${BENCH_QUEUE:-1}" = "0" ] || bash .ci/bench-queue.sh # cwd is the repository root (cd above)
bash .ci/bench-groupware.sh || echo "== groupware benchmark: failures above" >&2 # BENCH_GROUPWARE=0 skips it

#!/usr/bin/env bash
# IMAP benchmark (part of `make bench`, called from .ci/bench.sh;
# BENCH_IMAP=0 skips it). It starts `floe serve` with IMAP listeners and
# limits raised for the run, then measures with floe-bench:
#   - imap:            the imaptest-like mix (LOGIN LIST SELECT FETCH-flags
#                      FETCH-headers FETCH-bodies STORE EXPUNGE APPEND LOGOUT)
#                      over 4 accounts: ops/s and latency per command;
#   - imap-bigmailbox: one mailbox of BENCH_IMAP_BIG messages, medians of
#                      SELECT, UID FETCH 1:* (FLAGS), UID SEARCH TEXT word;
#   - imap-idle:       SMTP delivery to EXISTS in 10 IDLE sessions, p50/p99;
#   - imap-conns:      BENCH_IMAP_CONNS authenticated IDLE connections and
#                      the server's resident memory, then the same with
#                      COMPRESS=DEFLATE on every connection;
# and, when Dovecot IMAP is installed and we are root (BENCH_DOVECOT=install
# installs dovecot-imapd; BENCH_DOVECOT=0 skips), the same mix against
# Dovecot on loopback (Maildir, passwd-file), with the ratio floe/dovecot.
#
# Environment: BENCH_IMAP (0 skips), BENCH_IMAP_C (clients, 20),
# BENCH_IMAP_DURATION (mix duration, 20s), BENCH_IMAP_BIG (100000),
# BENCH_IMAP_CONNS (10000), BENCH_IMAP_IDLE_N (messages, 300),
# BENCH_DOVECOT (auto|install|0), BENCH_FLOE_BIN and BENCH_FLOE_BENCH_BIN
# (prebuilt binaries; default: build). Bounded to about 5 minutes with the
# defaults on a 2-core machine (filling the big mailbox takes most of it).
set -euo pipefail

if [ "${BENCH_IMAP:-1}" = "0" ]; then
	echo "== IMAP benchmark skipped (BENCH_IMAP=0)"
	exit 0
fi

cd "$(dirname "$0")/.."
IC=${BENCH_IMAP_C:-20}
ID=${BENCH_IMAP_DURATION:-20s}
IBIG=${BENCH_IMAP_BIG:-100000}
ICONNS=${BENCH_IMAP_CONNS:-10000}
IIDLE=${BENCH_IMAP_IDLE_N:-300}
DOVECOT=${BENCH_DOVECOT:-auto}

work=$(mktemp -d "${TMPDIR:-/tmp}/floe-bench-imap.XXXXXX")
floe_pid=""
dovecot_conf=""
cleanup() {
	if [ -n "$floe_pid" ]; then
		kill -TERM "$floe_pid" 2>/dev/null || true
		wait "$floe_pid" 2>/dev/null || true
	fi
	if [ -n "$dovecot_conf" ]; then
		dovecot -c "$dovecot_conf" stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

. .ci/bench-lib.sh
build_bins "$work"

# total_rate: the ops/s of the total line of `floe-bench imap` on stdin.
total_rate() {
	awk '/ c=[0-9]+ users=/ { for (i = 1; i <= NF; i++) if ($i ~ /^ops\/s=/) { split($i, a, "="); print a[2] } }'
}

read -r -a ip <<<"$("$fb" ports -n 3 | tr '\n' ' ')"
cat >"$work/floe.toml" <<EOF
[server]
hostname = "localhost"
data_dir = "$work/data"
shutdown_timeout = "10s"

[listeners]
smtp = "127.0.0.1:${ip[0]}"
submission = ""
submissions = ""
pop3 = ""
pop3s = ""
imap = "127.0.0.1:${ip[1]}"
imaps = "127.0.0.1:${ip[2]}"
http = ""
https = ""
clientsvc = ""
admin = ""

[smtp]
max_messages_per_connection = 10000000
max_connections_per_ip = 10000

[imap]
max_connections_per_ip = $((ICONNS + 1000))
# imap-conns logs every connection in as the same few accounts.
max_connections_per_user_ip = $((ICONNS + 1000))

# No DNS lookups for the benchmark's senders (a machine without a resolver
# would stall deliveries on DNS timeouts).
[checks]
enabled = false

[log]
level = "warn"

[[domain]]
name = "example.test"
EOF
users=""
for i in 1 2 3 4 5; do
	echo "imap-password-$i" | "$floe" account add "imap$i@example.test" --password-stdin --config "$work/floe.toml" >/dev/null
done
for i in 1 2 3 4; do users="$users${users:+,}imap$i@example.test:imap-password-$i"; done

# The subshell raises the open-files limit and execs floe: $! is floe's pid.
addr="127.0.0.1:${ip[1]}"
start_floe() {
	(
		ulimit -n $((ICONNS + 4096)) 2>/dev/null || true
		exec "$floe" serve --config "$work/floe.toml" >>"$work/floe.log" 2>&1
	) &
	floe_pid=$!
	wait_port "$addr"
}
start_floe
failed=0

echo "== imap: mix c=$IC duration=$ID over 4 accounts, machine: $(nproc) CPUs"
out=$("$fb" imap -label floe -addr "$addr" -users "$users" -c "$IC" -duration "$ID") || failed=1
echo "$out"
floe_rate=$(echo "$out" | total_rate)

echo "== imap: big mailbox ($IBIG messages)"
"$fb" imap-bigmailbox -label floe -addr "$addr" -users "imap5@example.test:imap-password-5" -n "$IBIG" || failed=1

echo "== imap: IDLE latency (10 sessions, $IIDLE messages delivered by SMTP)"
"$fb" imap-idle -label floe -addr "$addr" -smtp "127.0.0.1:${ip[0]}" \
	-users "imap1@example.test:imap-password-1" -k 10 -n "$IIDLE" || failed=1

echo "== imap: $ICONNS idle connections"
(
	ulimit -n $((ICONNS + 4096)) 2>/dev/null || true
	exec "$fb" imap-conns -label floe -addr "$addr" -users "$users" -n "$ICONNS" -pid "$floe_pid"
) || failed=1

# The same with COMPRESS=DEFLATE (RFC 4978) on every connection, on a
# restarted server so that memory the run above freed does not hide the
# cost of the inflaters.
echo "== imap: $ICONNS idle connections with COMPRESS=DEFLATE"
kill -TERM "$floe_pid"
wait "$floe_pid" 2>/dev/null || true
start_floe
(
	ulimit -n $((ICONNS + 4096)) 2>/dev/null || true
	exec "$fb" imap-conns -label floe -addr "$addr" -users "$users" -n "$ICONNS" -compress -pid "$floe_pid"
) || failed=1

# Dovecot IMAP baseline: the same mix on loopback (Maildir, passwd-file).
dovecot_rate=""
start_dovecot() {
	[ "$DOVECOT" != "0" ] || { echo "== dovecot imap baseline skipped (BENCH_DOVECOT=0)"; return 1; }
	if [ ! -x /usr/lib/dovecot/imap ]; then
		if [ "$DOVECOT" = "install" ] && [ "$(id -u)" = 0 ]; then
			echo "== installing dovecot-core dovecot-imapd"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-core dovecot-imapd >/dev/null
		else
			echo "== dovecot imap baseline skipped: dovecot-imapd is not installed (BENCH_DOVECOT=install installs it)"
			return 1
		fi
	fi
	[ "$(id -u)" = 0 ] || { echo "== dovecot imap baseline skipped: needs root"; return 1; }
	local d="$work/dovecot"
	dport=$("$fb" ports -n 1)
	mkdir -p "$d/run" "$d/state" "$d/mail"
	# The mail user (nobody) must reach its Maildir inside our private work dir.
	chmod 0711 "$work" "$d"
	chown nobody:nogroup "$d/mail" 2>/dev/null || chmod 0777 "$d/mail"
	: >"$d/passwd"
	for i in 1 2 3 4; do
		echo "imap$i@example.test:{PLAIN}imap-password-$i::::::" >>"$d/passwd"
	done
	dovecot_conf="$d/dovecot.conf"
	cat >"$dovecot_conf" <<EOF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$d/mail/%u
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
mail_fsync = always
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = static
  args = home=$d/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $dport
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
	if ! dovecot -c "$dovecot_conf" 2>"$d/start.err"; then
		echo "== dovecot imap baseline skipped: dovecot did not start: $(cat "$d/start.err")"
		dovecot_conf=""
		return 1
	fi
	wait_port "127.0.0.1:$dport"
}
if start_dovecot; then
	echo "== imap: dovecot mix c=$IC duration=$ID over 4 accounts"
	if out=$("$fb" imap -label dovecot -addr "127.0.0.1:$dport" -users "$users" -c "$IC" -duration "$ID"); then
		echo "$out"
		dovecot_rate=$(echo "$out" | total_rate)
	else
		echo "$out"
		echo "   dovecot imap mix failed; log:" >&2
		tail -5 "$work/dovecot/dovecot.log" >&2 || true
	fi
fi
if [ -n "$floe_rate" ] && [ -n "$dovecot_rate" ]; then
	awk -v f="$floe_rate" -v d="$dovecot_rate" -v c="$IC" 'BEGIN { printf "ratio  imap mix c=%d  floe/dovecot=%.3f\n", c, f / d }'
fi

kill -TERM "$floe_pid"
if ! wait "$floe_pid"; then
	echo "floe serve did not exit cleanly; log:" >&2
	tail -50 "$work/floe.log" >&2
	failed=1
fi
floe_pid=""
if grep -q -E 'level=(ERROR|WARN)' "$work/floe.log"; then
	echo "== floe (imap) logged warnings or errors:"
	grep -E 'level=(ERROR|WARN)' "$work/floe.log" | head -20
fi
exit "$failed"

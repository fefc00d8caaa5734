#!/usr/bin/env bash
# Sharing benchmark (part of `make bench`, called from .ci/bench.sh;
# BENCH_SHARING=0 skips it). One `floe serve`, two measures (issue #8):
#   - imap mix with sharing: the imaptest-like mix of `floe-bench imap` over
#     4 accounts that each see 10 folders other accounts shared with them
#     (through a group), beside the same mix over 4 accounts that see none,
#     alternating BENCH_SHARE_RUNS times each in the same server; prints the
#     medians and the ratio shared/plain (goal >= 0.95); the order
#     alternates (plain shared, shared plain, ...);
#   - LIST "" "*" latency of one account that sees 1,000 folders shared by
#     100 accounts (10 each, one ACL entry per folder), p50/p99 over
#     BENCH_SHARE_LIST_N commands (goal: under 50 ms).
#
# Environment: BENCH_SHARING (0 skips), BENCH_IMAP_C (clients, 20),
# BENCH_SHARE_DURATION (one mix run, 10s), BENCH_SHARE_RUNS (pairs, 4),
# BENCH_SHARE_LIST_N (50), BENCH_FLOE_BIN and BENCH_FLOE_BENCH_BIN.
set -euo pipefail

if [ "${BENCH_SHARING:-1}" = "0" ]; then
	echo "== sharing benchmark skipped (BENCH_SHARING=0)"
	exit 0
fi

cd "$(dirname "$0")/.."
IC=${BENCH_IMAP_C:-20}
SD=${BENCH_SHARE_DURATION:-10s}
SRUNS=${BENCH_SHARE_RUNS:-4}
LISTN=${BENCH_SHARE_LIST_N:-50}

work=$(mktemp -d "${TMPDIR:-/tmp}/floe-bench-sharing.XXXXXX")
floe_pid=""
cleanup() {
	if [ -n "$floe_pid" ]; then
		kill -TERM "$floe_pid" 2>/dev/null || true
		wait "$floe_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

. .ci/bench-lib.sh
build_bins "$work"

total_rate() {
	awk '/ c=[0-9]+ users=/ { for (i = 1; i <= NF; i++) if ($i ~ /^ops\/s=/) { split($i, a, "="); print a[2] } }'
}
median() { sort -g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'; }

pw="share-bench-password"
hash=$(echo "$pw" | "$floe" hash-password --password-stdin)
read -r -a ip <<<"$("$fb" ports -n 1 | tr '\n' ' ')"
conf="$work/floe.toml"
cat >"$conf" <<EOF
[server]
hostname = "localhost"
data_dir = "$work/data"
shutdown_timeout = "10s"

[listeners]
smtp = ""
submission = ""
submissions = ""
pop3 = ""
pop3s = ""
imap = "127.0.0.1:${ip[0]}"
imaps = ""
http = ""
https = ""
clientsvc = ""
admin = ""

[imap]
max_connections_per_ip = 10000
max_connections_per_user_ip = 1000

[checks]
enabled = false

[log]
level = "warn"

[[domain]]
name = "example.test"
EOF
accounts="plain1 plain2 plain3 plain4 shared1 shared2 shared3 shared4 lister"
for i in $(seq 1 10); do accounts="$accounts owner$i"; done
for i in $(seq 1 100); do accounts="$accounts lo$i"; done
for a in $accounts; do
	printf '\n[[account]]\naddress = "%s@example.test"\npassword_hash = %s\n' "$a" "'$hash'" >>"$conf"
done
printf '\n[[group]]\naddress = "sharers@example.test"\nmembers = ["shared1@example.test", "shared2@example.test", "shared3@example.test", "shared4@example.test"]\n' >>"$conf"

"$floe" serve --config "$conf" >"$work/floe.log" 2>&1 &
floe_pid=$!
addr="127.0.0.1:${ip[0]}"
wait_port "$addr"
failed=0

users() {
	local out="" u
	for u in "$@"; do out="$out${out:+,}$u@example.test:$pw"; done
	echo "$out"
}
owners=$(users $(for i in $(seq 1 10); do echo "owner$i"; done))
listowners=$(users $(for i in $(seq 1 100); do echo "lo$i"; done))

echo "== sharing: setup (each shared* account sees 10 folders of 10 owners; lister sees 1,000 folders of 100 owners)"
"$fb" imap-share-setup -label floe -addr "$addr" -owners "$owners" -grantee sharers@example.test -folders 1 || failed=1
"$fb" imap-share-setup -label floe -addr "$addr" -owners "$listowners" -grantee lister@example.test -folders 10 || failed=1

echo "== sharing: imap mix c=$IC duration=$SD, $SRUNS runs each, plain and shared alternating, machine: $(nproc) CPUs"
plain=$(users plain1 plain2 plain3 plain4)
shared=$(users shared1 shared2 shared3 shared4)
prates="" srates=""
mix() { # mix LABEL USERS: one run, appending its rate to prates or srates
	local out
	out=$("$fb" imap -label "$1" -addr "$addr" -users "$2" -c "$IC" -duration "$SD") || failed=1
	echo "$out" | grep -E 'cmd=LIST|c=[0-9]+ users='
	if [ "$1" = plain ]; then
		prates="$prates$(echo "$out" | total_rate)"$'\n'
	else
		srates="$srates$(echo "$out" | total_rate)"$'\n'
	fi
}
# ABBA order, so that a drift of the machine's speed during the runs
# does not favour one side.
for run in $(seq 1 "$SRUNS"); do
	if [ $((run % 2)) = 1 ]; then
		mix plain "$plain"
		mix shared "$shared"
	else
		mix shared "$shared"
		mix plain "$plain"
	fi
done
p=$(printf '%s' "$prates" | grep . | median)
s=$(printf '%s' "$srates" | grep . | median)
if [ -n "$p" ] && [ -n "$s" ]; then
	awk -v p="$p" -v s="$s" -v c="$IC" 'BEGIN { printf "ratio  imap mix c=%d  shared/plain=%.3f (medians: shared %.1f ops/s, plain %.1f ops/s; goal >= 0.95)\n", c, s / p, s, p }'
fi

echo "== sharing: LIST \"\" \"*\" of an account seeing 1,000 shared folders of 100 owners"
"$fb" imap-list -label floe -addr "$addr" -users "$(users lister)" -n "$LISTN" || failed=1

kill -TERM "$floe_pid"
if ! wait "$floe_pid"; then
	echo "floe serve did not exit cleanly; log:" >&2
	tail -50 "$work/floe.log" >&2
	failed=1
fi
floe_pid=""
if grep -q -E 'level=(ERROR|WARN)' "$work/floe.log"; then
	echo "== floe (sharing) logged warnings or errors:"
	grep -E 'level=(ERROR|WARN)' "$work/floe.log" | head -20
fi
exit "$failed"

#!/usr/bin/env bash
# Rules benchmark (part of `make bench`, called by .ci/bench.sh; BENCH_RULES=0
# skips it). In one run, against one `floe serve`, SMTP delivery on port 25
# with C concurrent senders (20) to:
#   - plain: four accounts without rules;
#   - rules: four accounts with 50 active rules each in the database
#            (`floe rules import`): 48 string tests on From, To, Subject,
#            Cc, a custom header, the body, the envelope and the attachment
#            names that do not match, one regular expression on the Subject
#            that does not match, and one rule that matches every message
#            and moves it into a folder.
# The runs alternate (plain, rules, plain, rules, ...) so that both see the
# same machine state; it prints every run, the medians and rules/plain (the
# goal is at least 0.9).
#
# Environment: BENCH_RULES (0 skips), BENCH_RULES_N (messages per run, 2000),
# BENCH_RULES_C (connections, 20), BENCH_RULES_RUNS (3), BENCH_SIZE (5120),
# BENCH_FLOE_BIN and BENCH_FLOE_BENCH_BIN (prebuilt binaries; default: build).
set -euo pipefail

if [ "${BENCH_RULES:-1}" = "0" ]; then
	echo "== rules benchmark skipped (BENCH_RULES=0)"
	exit 0
fi

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
N=${BENCH_RULES_N:-2000}
C=${BENCH_RULES_C:-20}
RUNS=${BENCH_RULES_RUNS:-3}
SIZE=${BENCH_SIZE:-5120}

work=$(mktemp -d "${TMPDIR:-/tmp}/floe-bench-rules.XXXXXX")
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

. .ci/bench-lib.sh
build_bins "$work"

read -r -a ports <<<"$("$fb" ports -n 3 | tr '\n' ' ')"
cat >"$work/floe.toml" <<EOF
[server]
hostname = "localhost"
data_dir = "$work/data"
shutdown_timeout = "10s"

[listeners]
smtp = "127.0.0.1:${ports[0]}"
submission = "127.0.0.1:${ports[1]}"
submissions = "127.0.0.1:${ports[2]}"
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

[checks]
enabled = false

[log]
level = "warn"

[[domain]]
name = "example.test"
EOF

# 50 rules: 48 string tests that do not match, one regex that does not
# match, one move that matches every message.
rules_doc() {
	local fields=(from to subject cc "header" body sender recipient attachment_name)
	local tests=(contains starts_with ends_with equals)
	local i=0 f t extra
	while [ $i -lt 48 ]; do
		f=${fields[$((i % ${#fields[@]}))]}
		t=${tests[$((i % ${#tests[@]}))]}
		extra=""
		[ "$f" = header ] && extra=', header = "X-Mailer"'
		printf '[[rules]]\ntitle = "string test %d"\nconditions = [{ if = "%s", %s = "no-match-%d;never-%d"%s }]\nactions = [{ do = "flags", flags = ["$R%d"] }]\n\n' \
			"$i" "$f" "$t" "$i" "$i" "$extra" "$i"
		i=$((i + 1))
	done
	printf '[[rules]]\ntitle = "regex"\nconditions = [{ if = "subject", regex = '"'"'^\\[(ticket|case) #[0-9]+\\]'"'"' }]\nactions = [{ do = "stop" }]\n\n'
	printf '[[rules]]\ntitle = "move"\nconditions = [{ if = "subject", starts_with = "floe-bench" }]\nactions = [{ do = "move", folder = "Bench" }]\n'
}
rules_doc >"$work/rules.toml"

plain="" ruled=""
for i in 1 2 3 4; do
	for kind in plain rules; do
		echo "bench-password-$i" | "$floe" account add "$kind$i@example.test" --password-stdin --config "$work/floe.toml" >/dev/null
	done
	"$floe" rules import "rules$i@example.test" --config "$work/floe.toml" <"$work/rules.toml" >/dev/null
	plain="$plain${plain:+,}plain$i@example.test"
	ruled="$ruled${ruled:+,}rules$i@example.test"
done
echo "== rules benchmark: $(grep -c '^\[\[rules\]\]' "$work/rules.toml") rules per account, n=$N c=$C size=$SIZE, $RUNS runs each"

"$floe" serve --config "$work/floe.toml" >"$work/floe.log" 2>&1 &
pid=$!
addr="127.0.0.1:${ports[0]}"
wait_port "$addr"

median_rate() {
	sed -E 's/.*\/s=([0-9.]+).*/\1/' | sort -g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}
out_plain="" out_rules=""
for _ in $(seq 1 "$RUNS"); do
	line=$("$fb" smtp -label plain -addr "$addr" -to "$plain" -c "$C" -n "$N" -size "$SIZE")
	echo "   $line"
	out_plain+="$line"$'\n'
	line=$("$fb" smtp -label rules50 -addr "$addr" -to "$ruled" -c "$C" -n "$N" -size "$SIZE")
	echo "   $line"
	out_rules+="$line"$'\n'
done
mp=$(printf '%s' "$out_plain" | median_rate)
mr=$(printf '%s' "$out_rules" | median_rate)
# The ratio of each pair of neighbouring runs, and their median: on a
# machine shared with other work the rates drift between runs, and
# neighbouring runs drift least.
pairs=$(paste <(printf '%s' "$out_plain" | sed -E 's/.*\/s=([0-9.]+).*/\1/') <(printf '%s' "$out_rules" | sed -E 's/.*\/s=([0-9.]+).*/\1/') |
	awk '{ printf "%.3f\n", $2 / $1 }')
mpair=$(printf '%s\n' "$pairs" | sort -g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
awk -v p="$mp" -v r="$mr" -v q="$mpair" -v all="$(echo $pairs)" 'BEGIN {
	printf "median plain=%.1f msgs/s rules50=%.1f msgs/s\n", p, r
	printf "ratio  rules50/plain=%.3f (of the medians), %.3f (median of the pairs: %s) (goal >= 0.9)\n", r / p, q, all }'

# Every message to a ruled account went into its Bench folder.
kill -TERM "$pid"
wait "$pid" || { echo "floe serve did not exit cleanly" >&2; tail -20 "$work/floe.log" >&2; exit 1; }
pid=""
if grep -q -E 'level=(ERROR|WARN)' "$work/floe.log"; then
	echo "== floe logged warnings or errors:"
	grep -E 'level=(ERROR|WARN)' "$work/floe.log" | head -10
fi

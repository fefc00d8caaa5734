#!/usr/bin/env bash
# Rules benchmark (part of `make bench`, called by .ci/bench.sh; BENCH_RULES=0
# skips it). In one run, SMTP delivery on port 25 with C concurrent senders
# (20) to:
#   - plain: four accounts without rules;
#   - rules: four accounts with 50 active rules each in the database
#            (`floe rules import`): 48 string tests on From, To, Subject,
#            Cc, a custom header, the body, the envelope and the attachment
#            names that do not match, one regular expression on the Subject
#            that does not match, and one rule that matches every message
#            and moves it into a folder.
# Each kind has its own `floe serve` and data directory, set up alike (the
# same four account names, the same config), and gets the same messages
# (floe-bench's: same size, same subjects, numbered from 0 in each run), so
# the two stores go through the same states: the store's slow phases,
# which recur at the same message counts (the same rounds were slow in
# every run; presumably index merges and checkpoints), fall on both alike.
# (In one shared store they fell on whichever kind's run reached those
# counts, which followed the order of the runs: reversing the order moved
# the ratio by about 0.05 either way.)
#
# First one unmeasured warm-up run of each (N/2 messages: the rule folders
# are created, compiled rules and caches are warm). Then RUNS rounds, each
# the two kinds' runs back to back in alternating order (plain then rules,
# rules then plain, ...), so both see the same load of the machine; many
# short rounds rather than a few long ones, so that a stall (another
# program's fsync, a busy core) spoils one round of many. It prints every
# run with the server's CPU time per message, the medians, rules/plain as
# the ratio of the medians and as the median of the rounds' ratios (the
# goal is at least 0.9), and the ratio of the median CPU times.
#
# Environment: BENCH_RULES (0 skips), BENCH_RULES_N (messages per run, 1000),
# BENCH_RULES_C (connections, 20), BENCH_RULES_RUNS (rounds, 15), BENCH_SIZE
# (5120), BENCH_FLOE_BIN and BENCH_FLOE_BENCH_BIN (prebuilt binaries;
# default: build).
set -euo pipefail

if [ "${BENCH_RULES:-1}" = "0" ]; then
	echo "== rules benchmark skipped (BENCH_RULES=0)"
	exit 0
fi

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
N=${BENCH_RULES_N:-1000}
C=${BENCH_RULES_C:-20}
RUNS=${BENCH_RULES_RUNS:-15}
SIZE=${BENCH_SIZE:-5120}

work=$(mktemp -d "${TMPDIR:-/tmp}/floe-bench-rules.XXXXXX")
declare -A pid=() addr=()
cleanup() {
	for k in "${!pid[@]}"; do
		kill -TERM "${pid[$k]}" 2>/dev/null || true
	done
	for k in "${!pid[@]}"; do
		wait "${pid[$k]}" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

. .ci/bench-lib.sh
build_bins "$work"

read -r -a ports <<<"$("$fb" ports -n 6 | tr '\n' ' ')"
# write_config KIND FIRST-PORT-INDEX: $work/KIND.toml, data in $work/KIND.
write_config() {
	cat >"$work/$1.toml" <<EOF
[server]
hostname = "localhost"
data_dir = "$work/$1"
shutdown_timeout = "10s"

[listeners]
smtp = "127.0.0.1:${ports[$2]}"
submission = "127.0.0.1:${ports[$(($2 + 1))]}"
submissions = "127.0.0.1:${ports[$(($2 + 2))]}"
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
	addr[$1]="127.0.0.1:${ports[$2]}"
}
write_config plain 0
write_config rules 3

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
rules_doc >"$work/rules-doc.toml"

to=""
for i in 1 2 3 4; do
	for kind in plain rules; do
		echo "bench-password-$i" | "$floe" account add "bench$i@example.test" --password-stdin --config "$work/$kind.toml" >/dev/null
	done
	"$floe" rules import "bench$i@example.test" --config "$work/rules.toml" <"$work/rules-doc.toml" >/dev/null
	to="$to${to:+,}bench$i@example.test"
done
echo "== rules benchmark: $(grep -c '^\[\[rules\]\]' "$work/rules-doc.toml") rules per account, n=$N c=$C size=$SIZE, $RUNS rounds (alternating order) after a warm-up, one server per kind"

for kind in plain rules; do
	"$floe" serve --config "$work/$kind.toml" >"$work/$kind.log" 2>&1 &
	pid[$kind]=$!
done
for kind in plain rules; do
	wait_port "${addr[$kind]}"
done

median() {
	sort -g | awk '{ l[NR] = $0 } END { if (NR % 2) print l[(NR + 1) / 2]; else printf "%.3f\n", (l[NR / 2] + l[NR / 2 + 1]) / 2 }'
}
rate() {
	sed -E 's/.*\/s=([0-9.]+).*/\1/'
}
# cpu_ticks PID: the CPU time floe serve used so far (user + system, in
# clock ticks; /proc/PID/stat fields 14 and 15); 0 where there is no /proc.
cpu_ticks() {
	if [ -r "/proc/$1/stat" ]; then
		awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
	else
		echo 0
	fi
}
hz=$(getconf CLK_TCK)
run() { # run KIND N: one run of floe-bench smtp; prints its line and the server's CPU time per message
	local label=plain t0 line
	if [ "$1" = rules ]; then
		label=rules50
	fi
	t0=$(cpu_ticks "${pid[$1]}")
	line=$("$fb" smtp -label "$label" -addr "${addr[$1]}" -to "$to" -c "$C" -n "$2" -size "$SIZE")
	awk -v l="$line" -v t="$(($(cpu_ticks "${pid[$1]}") - t0))" -v hz="$hz" -v n="$2" 'BEGIN { printf "%s  server_cpu/msg=%.0fus\n", l, t / hz / n * 1e6 }'
}
cpu() {
	sed -E 's/.*server_cpu\/msg=([0-9.]+)us.*/\1/'
}
echo "   warm-up (not counted): $(run plain $((N / 2)) | rate) plain, $(run rules $((N / 2)) | rate) rules50 msgs/s"
rates_plain="" rates_rules="" pairs="" cpu_plain="" cpu_rules=""
for i in $(seq 1 "$RUNS"); do
	order="plain rules"
	if [ $((i % 2)) = 0 ]; then
		order="rules plain"
	fi
	for kind in $order; do
		line=$(run "$kind" "$N")
		echo "   $line"
		r=$(printf '%s\n' "$line" | rate)
		if [ "$kind" = plain ]; then
			p=$r
			rates_plain+="$r"$'\n'
			cpu_plain+="$(printf '%s\n' "$line" | cpu)"$'\n'
		else
			q=$r
			rates_rules+="$r"$'\n'
			cpu_rules+="$(printf '%s\n' "$line" | cpu)"$'\n'
		fi
	done
	pairs+=$(awk -v p="$p" -v r="$q" 'BEGIN { printf "%.3f", r / p }')$'\n'
done
mp=$(printf '%s' "$rates_plain" | median)
mr=$(printf '%s' "$rates_rules" | median)
mpair=$(printf '%s' "$pairs" | median)
awk -v p="$mp" -v r="$mr" -v q="$mpair" -v all="$(echo $pairs)" \
	-v cp="$(printf '%s' "$cpu_plain" | median)" -v cr="$(printf '%s' "$cpu_rules" | median)" 'BEGIN {
	printf "median plain=%.1f msgs/s rules50=%.1f msgs/s\n", p, r
	printf "ratio  rules50/plain=%.3f (of the medians), %.3f (median of the rounds: %s) (goal >= 0.9)\n", r / p, q, all
	if (cp > 0) printf "server CPU per message (median): plain=%.0fus rules50=%.0fus (rules50/plain=%.3f)\n", cp, cr, cr / cp }'

for kind in plain rules; do
	kill -TERM "${pid[$kind]}"
	if ! wait "${pid[$kind]}"; then
		echo "floe serve ($kind) did not exit cleanly" >&2
		tail -20 "$work/$kind.log" >&2
		exit 1
	fi
	unset "pid[$kind]"
	if grep -q -E 'level=(ERROR|WARN)' "$work/$kind.log"; then
		echo "== floe ($kind) logged warnings or errors:"
		grep -E 'level=(ERROR|WARN)' "$work/$kind.log" | head -10
	fi
done

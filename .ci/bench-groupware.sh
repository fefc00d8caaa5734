#!/usr/bin/env bash
# Groupware benchmark (part of `make bench`, called from .ci/bench.sh;
# BENCH_GROUPWARE=0 skips it):
#   - a vdirsyncer round trip against `floe serve` and against Radicale
#     (Debian's radicale, on a loopback port with its own storage
#     directory), both over plain HTTP on loopback: upload N events and N
#     contacts, a no-change sync, edits of a tenth of them, and a fresh
#     download into empty directories; seconds per step and in all, and
#     the ratio radicale/floe (the goal is >= 10);
#   - the Go benchmark of webdav/dav: a calendar-query time-range REPORT over
#     a 10,000-event calendar (a quarter recurring), with etags only and
#     with calendar-data, and a free/busy answer for that user (goal
#     < 100 ms each).
#
# Environment: BENCH_GROUPWARE (0 skips), BENCH_GW_N ("200 2000"),
# BENCH_GW_GO (0 skips the Go benchmark),
# BENCH_GW_RADICALE (auto|install|0), BENCH_FLOE_BIN and
# BENCH_FLOE_BENCH_BIN (prebuilt binaries; default: build). vdirsyncer is
# installed by .ci/deps.sh (the interop suite uses it).
set -euo pipefail

if [ "${BENCH_GROUPWARE:-1}" = "0" ]; then
	echo "== groupware benchmark skipped (BENCH_GROUPWARE=0)"
	exit 0
fi

cd "$(dirname "$0")/.."
NS=${BENCH_GW_N:-"200 2000"}
RADICALE=${BENCH_GW_RADICALE:-auto}

work=$(mktemp -d "${TMPDIR:-/tmp}/floe-bench-gw.XXXXXX")
srv_pid=""
stop_server() {
	if [ -n "$srv_pid" ]; then
		kill -TERM "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
		srv_pid=""
	fi
}
cleanup() {
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT

. .ci/bench-lib.sh
build_bins "$work"

if ! command -v vdirsyncer >/dev/null; then
	echo "== groupware benchmark skipped: vdirsyncer is not installed (bash .ci/deps.sh installs it)"
	exit 0
fi
have_radicale=1
if ! /usr/bin/python3 -c 'import radicale' 2>/dev/null; then
	if [ "$RADICALE" = "install" ] && [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q radicale >/dev/null
	else
		have_radicale=0
		echo "== Radicale baseline skipped: radicale is not installed (BENCH_GW_RADICALE=install installs it)"
	fi
fi
[ "$RADICALE" = "0" ] && have_radicale=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# gen DIR N: N events (a quarter weekly) in DIR/cal/Calendar and N
# contacts in DIR/card/Contacts.
gen() {
	local d=$1 n=$2 i day
	mkdir -p "$d/cal/Calendar" "$d/card/Contacts"
	for ((i = 0; i < n; i++)); do
		day=$(printf '202603%02d' $((i % 28 + 1)))
		{
			printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//floe-bench//EN\r\nBEGIN:VEVENT\r\n'
			printf 'UID:bench-ev-%d@floe.test\r\nDTSTAMP:20260101T000000Z\r\n' "$i"
			printf 'DTSTART:%sT%02d0000Z\r\nDTEND:%sT%02d3000Z\r\n' "$day" $((i % 10 + 8)) "$day" $((i % 10 + 8))
			[ $((i % 4)) = 0 ] && printf 'RRULE:FREQ=WEEKLY\r\n'
			printf 'SUMMARY:Benchmark event %d\r\nLOCATION:Room %d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' "$i" $((i % 7))
		} >"$d/cal/Calendar/bench-ev-$i.ics"
		printf 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bench-c-%d@floe.test\r\nFN:Person %d\r\nN:%d;Person;;;\r\nEMAIL:person%d@example.org\r\nTEL:+1555%07d\r\nEND:VCARD\r\n' \
			"$i" "$i" "$i" "$i" "$i" >"$d/card/Contacts/bench-c-$i.vcf"
	done
}

# vconf DIR URL USER PASS: a vdirsyncer config syncing DIR with URL.
vconf() {
	cat >"$1/vdirsyncer.conf" <<EOF
[general]
status_path = "$1/status/"

[pair cal]
a = "cal_local"
b = "cal_remote"
collections = ["Calendar"]
conflict_resolution = "a wins"

[storage cal_local]
type = "filesystem"
path = "$1/cal/"
fileext = ".ics"

[storage cal_remote]
type = "caldav"
url = "$2"
username = "$3"
password = "$4"

[pair card]
a = "card_local"
b = "card_remote"
collections = ["Contacts"]
conflict_resolution = "a wins"

[storage card_local]
type = "filesystem"
path = "$1/card/"
fileext = ".vcf"

[storage card_remote]
type = "carddav"
url = "$2"
username = "$3"
password = "$4"
EOF
}

vds() { # vds DIR ARGS...
	local d=$1
	shift
	yes | XDG_CONFIG_HOME="$d/x" HOME="$d" vdirsyncer -v WARNING -c "$d/vdirsyncer.conf" "$@" >>"$d/vdirsyncer.log" 2>&1
}

start_floe() { # start_floe DIR PORT
	cat >"$1/floe.toml" <<EOF
[server]
hostname = "localhost"
data_dir = "$1/data"
shutdown_timeout = "10s"

[listeners]
smtp = ""
submission = ""
submissions = ""
pop3 = ""
pop3s = ""
imap = ""
imaps = ""
http = "127.0.0.1:$2"
https = ""
clientsvc = ""
admin = ""

[checks]
enabled = false

[log]
level = "warn"

[[domain]]
name = "example.test"
EOF
	echo "bench-password-1" | "$floe" account add "bench@example.test" --password-stdin --config "$1/floe.toml" >/dev/null
	"$floe" serve --config "$1/floe.toml" >"$1/floe.log" 2>&1 &
	srv_pid=$!
	wait_port "127.0.0.1:$2"
}

start_radicale() { # start_radicale DIR PORT
	mkdir -p "$1/collections"
	cat >"$1/radicale.conf" <<EOF
[server]
hosts = 127.0.0.1:$2
[auth]
type = none
[storage]
filesystem_folder = $1/collections
[logging]
level = warning
EOF
	/usr/bin/python3 -m radicale --config "$1/radicale.conf" >"$1/radicale.log" 2>&1 &
	srv_pid=$!
	wait_port "127.0.0.1:$2"
}

# roundtrip SYS N: prints one line with the seconds of each step.
roundtrip() {
	local sys=$1 n=$2 d="$work/$1-$2" port t0 t1 up nochange edits fresh
	mkdir -p "$d"
	port=$("$fb" ports -n 1)
	case $sys in
	floe) start_floe "$d" "$port" ;;
	radicale) start_radicale "$d" "$port" ;;
	esac
	local url="http://127.0.0.1:$port/"
	gen "$d/local" "$n"
	vconf "$d/local" "$url" "bench@example.test" "bench-password-1"
	vds "$d/local" discover
	t0=$(now)
	vds "$d/local" sync
	t1=$(now)
	up=$(elapsed "$t0" "$t1")
	t0=$(now)
	vds "$d/local" sync
	t1=$(now)
	nochange=$(elapsed "$t0" "$t1")
	local i
	for ((i = 0; i < n; i += 10)); do
		sed -i "s/^SUMMARY:Benchmark event $i\r\$/SUMMARY:Edited event $i\r/" "$d/local/cal/Calendar/bench-ev-$i.ics"
		sed -i "s/^FN:Person $i\r\$/FN:Edited Person $i\r/" "$d/local/card/Contacts/bench-c-$i.vcf"
	done
	t0=$(now)
	vds "$d/local" sync
	t1=$(now)
	edits=$(elapsed "$t0" "$t1")
	mkdir -p "$d/fresh/cal" "$d/fresh/card"
	vconf "$d/fresh" "$url" "bench@example.test" "bench-password-1"
	vds "$d/fresh" discover
	t0=$(now)
	vds "$d/fresh" sync
	t1=$(now)
	fresh=$(elapsed "$t0" "$t1")
	local got
	got=$(find "$d/fresh/cal" -name '*.ics' | wc -l)
	stop_server
	if [ "$got" != "$n" ]; then
		echo "   $sys n=$n: the fresh download has $got events, want $n; vdirsyncer log:" >&2
		tail -20 "$d/local/vdirsyncer.log" "$d/fresh/vdirsyncer.log" >&2
		return 1
	fi
	awk -v s="$sys" -v n="$n" -v u="$up" -v c="$nochange" -v e="$edits" -v f="$fresh" \
		'BEGIN { printf "   %-8s n=%-5d upload=%ss nochange=%ss edits=%ss download=%ss total=%.2fs\n", s, n, u, c, e, f, u + c + e + f }'
}

echo "== groupware: vdirsyncer round trip (N events + N contacts), HTTP on loopback"
for n in $NS; do
	fl=$(roundtrip floe "$n")
	echo "$fl"
	if [ "$have_radicale" = 1 ]; then
		ra=$(roundtrip radicale "$n")
		echo "$ra"
		ft=$(echo "$fl" | sed -E 's/.*total=([0-9.]+)s.*/\1/')
		rt=$(echo "$ra" | sed -E 's/.*total=([0-9.]+)s.*/\1/')
		fu=$(echo "$fl" | sed -E 's/.*upload=([0-9.]+)s.*/\1/')
		ru=$(echo "$ra" | sed -E 's/.*upload=([0-9.]+)s.*/\1/')
		awk -v f="$ft" -v r="$rt" -v fu="$fu" -v ru="$ru" -v n="$n" \
			'BEGIN { printf "ratio  n=%d radicale/floe total=%.1fx upload=%.1fx\n", n, r / f, ru / fu }'
	fi
done

[ "${BENCH_GW_GO:-1}" = "0" ] && exit 0
echo "== groupware: 10,000-event calendar (Go benchmark)"
go test -tags sqlite_fts5 -run XXX -bench BenchmarkGroupware10k -benchtime 20x ./webdav/dav/

#!/usr/bin/env bash
# WebDAV files benchmark (part of `make bench`, called from .ci/bench.sh;
# BENCH_FILES=0 skips it). rclone (webdav backend) uploads and downloads
# 200 files of 1 KB to 5 MB (about 160 MB, random content) to an account's
# Files folder on Floe, then the same to golang.org/x/net/webdav serving a
# plain directory (floe-bench davdir), in one run, and prints the
# throughput of each and the ratio floe/davdir both ways (goal >= 0.8).
set -euo pipefail
[ "${BENCH_FILES:-1}" = "0" ] && { echo "== files benchmark skipped (BENCH_FILES=0)"; exit 0; }
cd "$(dirname "$0")/.."
command -v rclone >/dev/null || { echo "files benchmark needs rclone (apt-get install rclone)" >&2; exit 1; }
N=${BENCH_FILES_N:-200}
TRANSFERS=${BENCH_FILES_TRANSFERS:-4}

work=$(mktemp -d "${TMPDIR:-/tmp}/floe-bench-files.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
. .ci/bench-lib.sh
build_bins "$work"

echo "== files: generating $N files (1 KB to 5 MB)"
mkdir -p "$work/src"
total=0
for i in $(seq 0 $((N - 1))); do
	# size = 1 KiB + 5 MiB * (i/(N-1))^5: many small files, a few large ones
	size=$(awk -v i="$i" -v n="$N" 'BEGIN { printf "%d", 1024 + 5242880 * (i / (n - 1)) ^ 5 }')
	head -c "$size" /dev/urandom >"$work/src/file-$i.bin"
	total=$((total + size))
done
echo "   $total bytes"

read -r -a p <<<"$("$fb" ports -n 2 | tr '\n' ' ')"
cat >"$work/floe.toml" <<CONF
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
imap = ""
imaps = ""
http = "127.0.0.1:${p[0]}"
https = ""
clientsvc = ""
admin = ""

[checks]
enabled = false

[log]
level = "warn"

[[domain]]
name = "example.test"
CONF
echo "files-password-1" | "$floe" account add "files@example.test" --password-stdin --config "$work/floe.toml" >/dev/null
"$floe" serve --config "$work/floe.toml" >"$work/floe.log" 2>&1 &
pids+=($!)
mkdir -p "$work/davdir"
"$fb" davdir -addr "127.0.0.1:${p[1]}" -dir "$work/davdir" >"$work/davdir.log" 2>&1 &
pids+=($!)
wait_port "127.0.0.1:${p[0]}"
wait_port "127.0.0.1:${p[1]}"

export RCLONE_CONFIG="$work/none.conf"
export RCLONE_CONFIG_FLOE_TYPE=webdav RCLONE_CONFIG_FLOE_VENDOR=other
export RCLONE_CONFIG_FLOE_URL="http://127.0.0.1:${p[0]}/webdav/files@example.test/Files/"
export RCLONE_CONFIG_FLOE_USER=files@example.test
RCLONE_CONFIG_FLOE_PASS=$(rclone obscure files-password-1)
export RCLONE_CONFIG_FLOE_PASS
export RCLONE_CONFIG_DIR_TYPE=webdav RCLONE_CONFIG_DIR_VENDOR=other
export RCLONE_CONFIG_DIR_URL="http://127.0.0.1:${p[1]}/"

# timed REMOTE DIRECTION: rclone copy one way; prints MB/s.
timed() {
	local remote=$1 dir=$2 t0 t1
	rm -rf "$work/down"
	t0=$(date +%s.%N)
	if [ "$dir" = up ]; then
		rclone copy --transfers "$TRANSFERS" -q "$work/src" "$remote:bench"
	else
		rclone copy --transfers "$TRANSFERS" -q "$remote:bench" "$work/down"
	fi
	t1=$(date +%s.%N)
	if [ "$dir" = down ]; then
		cmp -s <(cd "$work/src" && cat $(ls | sort)) <(cd "$work/down" && cat $(ls | sort)) || { echo "download from $remote differs" >&2; exit 1; }
	fi
	awk -v b="$total" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.1f", b / (z - a) / 1e6 }'
}

declare -A rate
for remote in dir floe; do
	for dir in up down; do
		rate[$remote,$dir]=$(timed "$remote" "$dir")
		label=$remote; [ "$remote" = dir ] && label="x/net/webdav dir"
		echo "files: $label $dir: ${rate[$remote,$dir]} MB/s ($N files, $total bytes, transfers=$TRANSFERS)"
	done
done
awk -v fu="${rate[floe,up]}" -v du="${rate[dir,up]}" -v fd="${rate[floe,down]}" -v dd="${rate[dir,down]}" \
	'BEGIN { printf "ratio  files floe/davdir upload=%.3f download=%.3f (goal >= 0.8)\n", fu / du, fd / dd }'
if grep -q -E 'level=(ERROR|WARN)' "$work/floe.log"; then
	echo "== floe logged warnings or errors:"
	grep -E 'level=(ERROR|WARN)' "$work/floe.log" | head -20
fi

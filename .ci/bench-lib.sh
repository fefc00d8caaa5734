# Shared by the benchmark scripts (sourced, not run).

# build_bins DIR: sets $floe and $fb to the floe and floe-bench binaries:
# BENCH_FLOE_BIN / BENCH_FLOE_BENCH_BIN when given (bench.sh passes its own
# to the scripts it calls), otherwise built into DIR.
build_bins() {
	floe=${BENCH_FLOE_BIN:-}
	fb=${BENCH_FLOE_BENCH_BIN:-}
	if [ -z "$floe" ]; then
		echo "== building floe"
		go build -tags sqlite_fts5 -o "$1/floe" ./cmd/floe
		floe="$1/floe"
	fi
	if [ -z "$fb" ]; then
		go build -o "$1/floe-bench" ./cmd/floe-bench
		fb="$1/floe-bench"
	fi
}

# wait_port HOST:PORT: until something accepts connections there (30 s).
wait_port() {
	local host=${1%:*} port=${1##*:}
	for _ in $(seq 1 300); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	return 1
}

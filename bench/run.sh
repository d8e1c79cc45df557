#!/usr/bin/env bash
# bench/run.sh: Weir's comparative pass-through benchmark.
#
# Runs one backend and puts Weir, nginx, HAProxy and Caddy (and optionally a
# plain Go httputil.ReverseProxy) in front of it, one at a time, each with one
# worker pinned to one core, and drives them with wrk pinned to the other
# core. Prints RPS, p50 and p99 latency per target and the ratios to the
# direct backend and to nginx. See bench/README.md and docs/BENCHMARKS.md.
#
# Everything listens on 127.0.0.1 on ports chosen free at run time; every
# process started here is stopped on exit.
set -euo pipefail
export LC_ALL=C # decimal points, sort and join order

readonly ALL_TARGETS="direct,direct-shared,weir,nginx,haproxy,caddy"
readonly DEFAULT_CADDY_VERSION="v2.11.9"
# Tried in order when CADDY_VERSION fails to download (the module proxy
# refuses some versions with 403).
readonly CADDY_FALLBACK_VERSIONS="v2.11.9 v2.10.2"
readonly BODY_SIZE=1024
readonly PATTERN="0123456789abcdef"

usage() {
	cat <<EOF
Usage: bash bench/run.sh [options]

Targets (default: $ALL_TARGETS):
  direct         wrk -> backend; backend alone on the proxy core
  direct-shared  wrk -> backend; backend on the load core next to wrk
                 (where it sits for the proxied runs: the ceiling of the layout)
  weir nginx haproxy caddy httputil
  weir-wasm      Weir with one wasm plugin that adds a request header
                 (host/wasm/testdata/plugin.wasm, hand-written WAT); opt-in with --only
  weir-wasm-c    the same with the C SDK's headers example
                 (sdk/c/examples/headers/headers.wasm); opt-in with --only
  weir-auth      Weir with the built-in key-auth (key in the query string) and
                 rate-limiting (local, limits never reached); opt-in with --only
  weir-chain     weir-auth plus request-transformer and cors (the reference
                 plugins' chain); opt-in with --only
  weir-bare      Weir with metrics and latency headers off (their cost is
                 weir vs weir-bare); opt-in with --only
  weir-traced    Weir tracing every request (OTLP/HTTP to the backend, which
                 answers 200 and discards); opt-in with --only
                 wrk -> proxy (proxy core) -> backend (load core)

Options (environment variable in brackets):
  --only LIST        comma-separated targets to run [WEIR_BENCH_ONLY]
  --httputil         also run the Go httputil.ReverseProxy baseline
  --duration SEC     measured seconds per run (default 10) [WEIR_BENCH_DURATION]
  --warmup SEC       warm-up seconds before every measured run (default 3)
                     [WEIR_BENCH_WARMUP]
  --rounds N         measured runs per target, interleaved; medians reported
                     (default 3) [WEIR_BENCH_ROUNDS]
  --connections N    wrk connections (default 50) [WEIR_BENCH_CONNECTIONS]
  --threads N        wrk threads (default 1) [WEIR_BENCH_THREADS]
  --backend KIND     nginx (default) or go [WEIR_BENCH_BACKEND]
  --proxy-core N     core for the proxy under test (default 0) [WEIR_BENCH_PROXY_CORE]
  --load-core N      core for wrk and the backend (default 1) [WEIR_BENCH_LOAD_CORE]
  --out DIR          write runs.tsv, results.md and logs to DIR
                     (default: a temporary directory, removed on exit) [WEIR_BENCH_OUT]
  --weir-bin PATH    use this Weir binary instead of building ./cmd/weir [WEIR_BENCH_WEIR_BIN]
  --max-noise PCT    re-measure a run while other processes on the machine used
                     more than PCT % of a core during it (default 10)
                     [WEIR_BENCH_MAX_NOISE]
  --noise-retries N  at most N re-measurements per run (default 3)
                     [WEIR_BENCH_NOISE_RETRIES]
  --quiet-wait SEC   before each measured run, wait up to SEC seconds for other
                     processes to drop under --max-noise (default 120; 0: never
                     wait) [WEIR_BENCH_QUIET_WAIT]
  --halt-poll NS     set the guest halt-poll limit (cpuidle haltpoll driver,
                     /sys/module/haltpoll/parameters/guest_halt_poll_ns) to NS for
                     the run and restore it on exit: an idle vCPU polls up to NS ns
                     before halting, so waking it costs no IPI (as on bare metal
                     with mwait idle). Default: leave the machine as it is.
                     Needs root and the haltpoll driver [WEIR_BENCH_HALT_POLL]
  --no-install       do not apt-get install or go install missing tools
  -h, --help         this help

Other environment: CADDY_VERSION (default $DEFAULT_CADDY_VERSION),
WEIR_BENCH_CACHE (default \${XDG_CACHE_HOME:-\$HOME/.cache}/weir-bench).
Exit status: 0 when every selected target ran with no errors, 1 when a target
failed (errors, wrong bodies, did not start), 2 on bad usage or setup.
EOF
}

die() {
	echo "run.sh: $*" >&2
	exit 2
}
log() { echo "== $*" >&2; }

# ---------------------------------------------------------------- options
ONLY="${WEIR_BENCH_ONLY:-}"
WITH_HTTPUTIL=0
DURATION="${WEIR_BENCH_DURATION:-10}"
WARMUP="${WEIR_BENCH_WARMUP:-3}"
ROUNDS="${WEIR_BENCH_ROUNDS:-3}"
CONNS="${WEIR_BENCH_CONNECTIONS:-50}"
THREADS="${WEIR_BENCH_THREADS:-1}"
BACKEND_KIND="${WEIR_BENCH_BACKEND:-nginx}"
PROXY_CORE="${WEIR_BENCH_PROXY_CORE:-0}"
LOAD_CORE="${WEIR_BENCH_LOAD_CORE:-1}"
OUT_DIR="${WEIR_BENCH_OUT:-}"
WEIR_BIN="${WEIR_BENCH_WEIR_BIN:-}"
NOISE_MAX="${WEIR_BENCH_MAX_NOISE:-10}"
NOISE_RETRIES="${WEIR_BENCH_NOISE_RETRIES:-3}"
QUIET_WAIT="${WEIR_BENCH_QUIET_WAIT:-120}"
HALT_POLL="${WEIR_BENCH_HALT_POLL:-}"
readonly HALT_POLL_PARAM=/sys/module/haltpoll/parameters/guest_halt_poll_ns
HALT_POLL_SAVED=""
INSTALL=1
CADDY_VERSION="${CADDY_VERSION:-$DEFAULT_CADDY_VERSION}"
CACHE_DIR="${WEIR_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/weir-bench}"

need_arg() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
	case "$1" in
	--only) need_arg "$@"; ONLY="$2"; shift 2 ;;
	--only=*) ONLY="${1#*=}"; shift ;;
	--httputil) WITH_HTTPUTIL=1; shift ;;
	--duration) need_arg "$@"; DURATION="$2"; shift 2 ;;
	--warmup) need_arg "$@"; WARMUP="$2"; shift 2 ;;
	--rounds) need_arg "$@"; ROUNDS="$2"; shift 2 ;;
	--connections) need_arg "$@"; CONNS="$2"; shift 2 ;;
	--threads) need_arg "$@"; THREADS="$2"; shift 2 ;;
	--backend) need_arg "$@"; BACKEND_KIND="$2"; shift 2 ;;
	--proxy-core) need_arg "$@"; PROXY_CORE="$2"; shift 2 ;;
	--load-core) need_arg "$@"; LOAD_CORE="$2"; shift 2 ;;
	--out) need_arg "$@"; OUT_DIR="$2"; shift 2 ;;
	--weir-bin) need_arg "$@"; WEIR_BIN="$2"; shift 2 ;;
	--max-noise) need_arg "$@"; NOISE_MAX="$2"; shift 2 ;;
	--noise-retries) need_arg "$@"; NOISE_RETRIES="$2"; shift 2 ;;
	--quiet-wait) need_arg "$@"; QUIET_WAIT="$2"; shift 2 ;;
	--halt-poll) need_arg "$@"; HALT_POLL="$2"; shift 2 ;;
	--no-install) INSTALL=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
for v in DURATION ROUNDS CONNS THREADS PROXY_CORE LOAD_CORE NOISE_MAX NOISE_RETRIES QUIET_WAIT; do
	is_uint "${!v}" || die "$v must be a non-negative integer, got '${!v}'"
done
is_uint "$WARMUP" || die "WARMUP must be a non-negative integer, got '$WARMUP'"
if [[ -n "$HALT_POLL" ]]; then
	is_uint "$HALT_POLL" || die "--halt-poll must be a non-negative integer (ns), got '$HALT_POLL'"
	[[ -w "$HALT_POLL_PARAM" ]] || die "--halt-poll: $HALT_POLL_PARAM is missing or not writable (needs root and the cpuidle haltpoll driver)"
fi
((DURATION >= 1)) || die "duration must be at least 1 second"
((ROUNDS >= 1)) || die "rounds must be at least 1"
((CONNS >= 1 && THREADS >= 1 && CONNS >= THREADS)) || die "need connections >= threads >= 1"
[[ "$BACKEND_KIND" == nginx || "$BACKEND_KIND" == go ]] || die "--backend must be nginx or go"

NCPU=$(nproc --all)
((PROXY_CORE < NCPU && LOAD_CORE < NCPU)) || die "cores $PROXY_CORE/$LOAD_CORE: this machine has $NCPU"
if ((PROXY_CORE == LOAD_CORE)); then
	echo "run.sh: warning: proxy and load share core $PROXY_CORE; ratios will mostly measure CPU sharing" >&2
fi

[[ -n "$ONLY" ]] || ONLY="$ALL_TARGETS"
((WITH_HTTPUTIL)) && ONLY="$ONLY,httputil"
TARGETS=()
IFS=',' read -r -a _sel <<<"$ONLY"
for t in "${_sel[@]}"; do
	t="${t// /}"
	[[ -n "$t" ]] || continue
	case "$t" in
	direct | direct-shared | weir | weir-wasm | weir-wasm-c | weir-auth | weir-chain | weir-bare | weir-traced | nginx | haproxy | caddy | httputil) ;;
	*) die "unknown target '$t' (want direct, direct-shared, weir, weir-wasm, weir-wasm-c, weir-auth, weir-chain, weir-bare, weir-traced, nginx, haproxy, caddy, httputil)" ;;
	esac
	[[ " ${TARGETS[*]-} " == *" $t "* ]] || TARGETS+=("$t")
done
((${#TARGETS[@]} > 0)) || die "no targets selected"
selected() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }

HZ=$(getconf CLK_TCK)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ---------------------------------------------------------------- install
SUDO=()
if ((EUID != 0)) && command -v sudo >/dev/null; then SUDO=(sudo); fi

apt_install() { # apt_install PKG... (runs apt-get update once if a package is unknown)
	local missing=("$@")
	export DEBIAN_FRONTEND=noninteractive
	if ! "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >&2; then
		"${SUDO[@]}" apt-get update -qq >&2
		"${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >&2
	fi
}

ensure_tools() {
	local need=() nginx_pkg
	command -v taskset >/dev/null || need+=(util-linux)
	command -v curl >/dev/null || need+=(curl)
	command -v ss >/dev/null || need+=(iproute2)
	command -v wrk >/dev/null || need+=(wrk)
	if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
		if selected nginx || [[ "$BACKEND_KIND" == nginx ]]; then need+=(NGINX); fi
	fi
	if selected haproxy && ! command -v haproxy >/dev/null && [[ ! -x /usr/sbin/haproxy ]]; then
		need+=(haproxy)
	fi
	((${#need[@]} > 0)) || return 0
	((INSTALL)) || die "missing tools (${need[*]}) and --no-install given"
	log "installing ${need[*]}"
	# Debian 12 ships nginx-light; later releases only nginx.
	nginx_pkg=nginx-light
	if [[ " ${need[*]} " == *" NGINX "* ]]; then
		if ! apt-cache show nginx-light >/dev/null 2>&1; then
			"${SUDO[@]}" apt-get update -qq >&2 || true
			apt-cache show nginx-light >/dev/null 2>&1 || nginx_pkg=nginx
		fi
		need=("${need[@]/NGINX/$nginx_pkg}")
	fi
	# The packages' postinst may try to start system services; a
	# policy-rc.d that denies it (as in containers) is fine, and we never
	# use those services: our own instances run from a temp dir.
	apt_install "${need[@]}"
}

# Caddy is built from the Go module proxy and cached per version.
ensure_caddy() {
	local v bin
	for v in "$CADDY_VERSION" $CADDY_FALLBACK_VERSIONS; do
		bin="$CACHE_DIR/caddy-$v/caddy"
		if [[ -x "$bin" ]]; then
			CADDY_BIN="$bin" CADDY_BUILT="$v"
			return 0
		fi
	done
	((INSTALL)) || die "caddy is not in $CACHE_DIR and --no-install given"
	command -v go >/dev/null || die "go is needed to build caddy"
	for v in "$CADDY_VERSION" $CADDY_FALLBACK_VERSIONS; do
		bin="$CACHE_DIR/caddy-$v/caddy"
		log "building caddy $v into $CACHE_DIR/caddy-$v (one-off, takes a few minutes)"
		mkdir -p "$CACHE_DIR/caddy-$v"
		# Built outside the repo: go install pkg@version ignores go.mod anyway.
		if (cd "$CACHE_DIR" && GOBIN="$CACHE_DIR/caddy-$v" GOFLAGS=-buildvcs=false \
			go install "github.com/caddyserver/caddy/v2/cmd/caddy@$v") >&2; then
			CADDY_BIN="$bin" CADDY_BUILT="$v"
			[[ "$v" == "$CADDY_VERSION" ]] || echo "run.sh: note: caddy $CADDY_VERSION could not be built; using $v" >&2
			return 0
		fi
		echo "run.sh: building caddy $v failed (the module proxy may refuse it); trying an earlier version" >&2
	done
	return 1
}

# ---------------------------------------------------------------- runtime state
WORK="$(mktemp -d "${TMPDIR:-/tmp}/weir-bench.XXXXXX")"
chmod 755 "$WORK" # nginx workers may run as nobody
KEEP_OUT=1
if [[ -z "$OUT_DIR" ]]; then
	OUT_DIR="$WORK/out"
	KEEP_OUT=0
fi
mkdir -p "$OUT_DIR/logs"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
WRK_PID=""    # the wrk run under way, if any
PIDS=()       # processes we started (stopped with TERM, then KILL)
EXTRA_PIDS=() # their children (nginx workers), KILLed if left over

# shellcheck disable=SC2317,SC2015 # run by the EXIT trap; "|| true" is intended
cleanup() {
	local rc=$? pid i alive
	trap - EXIT INT TERM
	[[ -n "${WRK_PID-}" ]] && kill -TERM "$WRK_PID" 2>/dev/null || true
	for pid in "${PIDS[@]-}"; do [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true; done
	for ((i = 0; i < 50; i++)); do
		alive=0
		for pid in "${PIDS[@]-}" "${EXTRA_PIDS[@]-}"; do
			[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && alive=1
		done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${PIDS[@]-}" "${EXTRA_PIDS[@]-}"; do [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ -n "$HALT_POLL_SAVED" ]] && echo "$HALT_POLL_SAVED" >"$HALT_POLL_PARAM" 2>/dev/null || true
	rm -rf "$WORK" # holds the output too unless --out was given
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

USED_PORTS=" "
free_port() { # sets PORT to a free 127.0.0.1 TCP port
	local p i
	for ((i = 0; i < 500; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		[[ "$USED_PORTS" == *" $p "* ]] && continue
		if [[ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]]; then
			USED_PORTS+="$p "
			PORT=$p
			return 0
		fi
	done
	die "no free port found"
}

# start NAME CORE CMD... : start CMD pinned to CORE, logging to logs/NAME.log;
# sets STARTED_PID.
start() {
	local name=$1 core=$2
	shift 2
	taskset -c "$core" "$@" >"$OUT_DIR/logs/$name.log" 2>&1 &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
}

# pid_tree PID: PID and its direct children (nginx master and workers).
pid_tree() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1" 2>/dev/null || true); do echo "$c"; done
}

# wait_ready NAME PID URL : poll URL until it answers 200 (bounded: 15 s).
wait_ready() {
	local name=$1 pid=$2 url=$3 i code
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "run.sh: $name exited during start-up; log:" >&2
			tail -n 20 "$OUT_DIR/logs/$name.log" >&2 || true
			return 1
		fi
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null || true)
		[[ "$code" == 200 ]] && return 0
		sleep 0.1
	done
	echo "run.sh: $name not ready at $url after 15 s (last status '$code'); log:" >&2
	tail -n 20 "$OUT_DIR/logs/$name.log" >&2 || true
	return 1
}

# check_response NAME URL : one GET must give 200 and exactly the expected body.
check_response() {
	local name=$1 url=$2 code
	code=$(curl -s -o "$WORK/body.$name" -D "$WORK/headers.$name" -w '%{http_code}' --max-time 5 "$url" || true)
	if [[ "$code" != 200 ]]; then
		echo "run.sh: $name: GET $url gave status '$code', want 200" >&2
		return 1
	fi
	if ! cmp -s "$WORK/body.$name" "$WORK/expected-body"; then
		echo "run.sh: $name: GET $url returned a body of $(wc -c <"$WORK/body.$name") bytes that differs from the backend's $BODY_SIZE-byte body" >&2
		return 1
	fi
}

# ---------------------------------------------------------------- configs
write_nginx_backend_conf() { # DIR PORT
	local dir=$1 port=$2 body
	body=$(cat "$WORK/expected-body")
	mkdir -p "$dir/logs"
	cat >"$dir/nginx.conf" <<EOF
# Benchmark backend: one worker, fixed $BODY_SIZE-byte body, no access log.
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type text/plain;
            return 200 "$body";
        }
    }
}
EOF
}

write_nginx_proxy_conf() { # DIR PORT BACKEND_PORT
	local dir=$1 port=$2 bport=$3
	mkdir -p "$dir/logs"
	cat >"$dir/nginx.conf" <<EOF
# nginx as the proxy under test: one worker, upstream keep-alive, no access log.
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    upstream backend {
        server 127.0.0.1:$bport;
        keepalive $CONNS;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

write_haproxy_conf() { # FILE PORT BACKEND_PORT
	cat >"$1" <<EOF
# HAProxy as the proxy under test: one thread, idle upstream connections
# reused by any client (http-reuse always), no logging.
global
    nbthread 1
    maxconn 4096
    pidfile $WORK/haproxy.pid
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
frontend fe
    bind 127.0.0.1:$2
    default_backend be
backend be
    server s1 127.0.0.1:$3
EOF
}

write_caddyfile() { # FILE PORT BACKEND_PORT
	# (Tabs inside: the layout "caddy fmt" wants, so Caddy does not warn.)
	cat >"$1" <<EOF
# Caddy as the proxy under test (GOMAXPROCS=1). No access log (Caddy logs
# requests only with a log directive); reverse_proxy keeps upstream
# connections alive by default; the idle pool is set to the same size as
# nginx's keepalive. The site address is only a matcher: bind keeps the
# listener on loopback.
{
	admin off
	auto_https off
	persist_config off
	default_bind 127.0.0.1
}

http://127.0.0.1:$2 {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$3 {
		transport http {
			keepalive 300s
			keepalive_idle_conns $CONNS
			keepalive_idle_conns_per_host $CONNS
		}
	}
}
EOF
}

write_weir_conf() { # FILE PORT ADMIN_PORT STATUS_PORT BACKEND_PORT [PLUGIN_REF]
	cat >"$1" <<EOF
_format_version: "3.0"
weir:
  proxy_listen: 127.0.0.1:$2
  admin_listen: 127.0.0.1:$3
  status_listen: 127.0.0.1:$4
  https_listen: "off"
services:
- name: backend
  url: http://127.0.0.1:$5
  routes:
  - name: all
    paths: [/]
EOF
	if [[ -n "${6:-}" ]]; then
		printf '    plugins:\n    - name: "%s"\n' "$6" >>"$1"
	fi
}

# write_weir_auth_conf FILE: appends the built-in auth chain to a Weir config
# written by write_weir_conf (a consumer with a key; key-auth and
# rate-limiting on the route). The limits are never reached in a run.
write_weir_auth_conf() {
	cat >>"$1" <<EOF
    plugins:
    - name: key-auth
    - name: rate-limiting
      config: {second: 1000000000, hour: 1000000000000, limit_by: consumer}
consumers:
- username: bench
  keyauth_credentials: [{key: bench-key}]
EOF
}

# write_weir_chain_conf FILE: appends request-transformer and cors to the
# auth chain of write_weir_auth_conf (as plugins of the same route). The
# consumers section that ends the file is moved after them.
write_weir_chain_conf() {
	local tmp="$1.tmp"
	awk '/^consumers:/{c=1} !c{print}' "$1" >"$tmp"
	cat >>"$tmp" <<EOF
    - name: request-transformer
      config: {add: {headers: ["x-bench:1"]}}
    - name: cors
      config: {origins: ["*"]}
EOF
	awk '/^consumers:/{c=1} c{print}' "$1" >>"$tmp"
	mv "$tmp" "$1"
}

# ---------------------------------------------------------------- measurement
# core_ticks CORE: "usersys softirq total" jiffies of one core from
# /proc/stat: user+nice+system (processes), irq+softirq (packet processing),
# the total, and steal (time the hypervisor gave to other guests).
core_ticks() {
	awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print $2 + $3 + $4, $7 + $8, t, $9 }' /proc/stat
}
# other_ticks: CPU jiffies used so far by processes that are not ours, summed
# over all processes with their reaped children (cutime, cstime), so that a
# short-lived compile started and finished during a run still counts through
# its parent. Ours: this shell and its children (wrk, curl, subshells), every
# server we started, and kernel threads (ksoftirqd and kworkers do our packet
# processing).
other_ticks() {
	local excl=" $$ ${PIDS[*]-} ${EXTRA_PIDS[*]-} "
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v excl="$excl" -v me="$$" '
		{
			pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
			# f: 1 state, 2 ppid, 7 flags, 12 utime, 13 stime, 14 cutime, 15 cstime
			if (index(excl, " " pid " ") || f[2] == me || pid == 2 || f[2] == 2) next
			if (int(f[7] / 2097152) % 2) next # PF_KTHREAD
			s += f[12] + f[13] + f[14] + f[15]
		}
		END { printf "%d", s }'
}
# proc_ticks PID...: user+system jiffies of the processes (all threads).
proc_ticks() {
	local pid sum=0 line f
	for pid in "$@"; do
		line=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		# after "pid (comm) ": state, ... utime is the 12th field, stime the 13th
		read -r -a f <<<"${line##*) }"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

cat >"$WORK/report.lua" <<'EOF'
-- wrk hook: one exact, machine-readable line at the end of a run.
-- Only done() is defined, so wrk keeps its fast response path.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKRESULT requests=%.0f duration_us=%.0f bytes=%.0f status=%.0f connect=%.0f read=%.0f write=%.0f timeout=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f\n",
    summary.requests, summary.duration, summary.bytes, e.status, e.connect,
    e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
EOF

kv() { # kv KEY LINE: value of KEY=value in LINE
	local re="(^| )$1=([^ ]+)"
	[[ "$2" =~ $re ]] && echo "${BASH_REMATCH[2]}"
}

# run_wrk URL SECONDS LOGFILE: sets WRK_LINE (the WRKRESULT line) or returns 1.
run_wrk() {
	local url=$1 secs=$2 logf=$3
	# In the background and waited for, so that Ctrl-C or SIGTERM stops the
	# benchmark at once instead of after this run.
	taskset -c "$LOAD_CORE" wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 5s \
		-s "$WORK/report.lua" "$url" >"$logf" 2>&1 &
	WRK_PID=$!
	if ! wait "$WRK_PID"; then
		WRK_PID=""
		echo "run.sh: wrk failed; see $logf" >&2
		WRK_LINE=""
		return 1
	fi
	WRK_PID=""
	WRK_LINE=$(grep '^WRKRESULT ' "$logf" | tail -n 1 || true)
	[[ -n "$WRK_LINE" ]]
}

# repin PID... CORE: move running processes (all threads) to CORE.
repin() {
	local core=${!#} pid
	for pid in "${@:1:$#-1}"; do
		taskset -a -p -c "$core" "$pid" >/dev/null
	done
}

# ---------------------------------------------------------------- setup
ensure_tools
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY_BIN=$(command -v haproxy || echo /usr/sbin/haproxy)
CADDY_BIN="" CADDY_BUILT=""
declare -A SKIP=() FAIL=() URL=() SUBJECT=()

if selected caddy && ! ensure_caddy; then
	SKIP[caddy]="could not build caddy from the module proxy"
fi

# Pre-build the repo's binaries (Weir may not build yet: then it is skipped).
if selected weir || selected weir-wasm || selected weir-wasm-c || selected weir-auth || selected weir-chain || selected weir-bare || selected weir-traced; then
	if [[ -n "$WEIR_BIN" ]]; then
		[[ -x "$WEIR_BIN" ]] || die "--weir-bin $WEIR_BIN is not executable"
	else
		log "building weir (./cmd/weir)"
		if (cd "$ROOT" && go build -o "$WORK/weir" ./cmd/weir) >"$OUT_DIR/logs/weir-build.log" 2>&1; then
			WEIR_BIN="$WORK/weir"
		else
			SKIP[weir]="./cmd/weir does not build (see below)"
			SKIP[weir-wasm]="${SKIP[weir]}"
			SKIP[weir-wasm-c]="${SKIP[weir]}"
			SKIP[weir-auth]="${SKIP[weir]}"
			SKIP[weir-chain]="${SKIP[weir]}"
			SKIP[weir-bare]="${SKIP[weir]}"
			SKIP[weir-traced]="${SKIP[weir]}"
			echo "run.sh: SKIPPING weir: go build ./cmd/weir failed:" >&2
			tail -n 15 "$OUT_DIR/logs/weir-build.log" >&2 || true
		fi
	fi
fi
if selected httputil; then
	log "building bench/httputilproxy"
	(cd "$ROOT" && go build -o "$WORK/httputilproxy" ./bench/httputilproxy) >&2 ||
		die "bench/httputilproxy does not build"
fi
if [[ "$BACKEND_KIND" == go ]]; then
	log "building bench/backend"
	(cd "$ROOT" && go build -o "$WORK/backend" ./bench/backend) >&2 || die "bench/backend does not build"
fi

# The 1 KiB body every response must carry.
for ((i = 0; i < BODY_SIZE / ${#PATTERN}; i++)); do printf '%s' "$PATTERN"; done >"$WORK/expected-body"
[[ $(wc -c <"$WORK/expected-body") -eq $BODY_SIZE ]] || die "internal: expected body is not $BODY_SIZE bytes"

# ---- backend: on the load core (re-pinned to the proxy core for "direct")
free_port
BACKEND_PORT=$PORT
if [[ "$BACKEND_KIND" == nginx ]]; then
	write_nginx_backend_conf "$WORK/backend" "$BACKEND_PORT"
	start backend "$LOAD_CORE" "$NGINX_BIN" -p "$WORK/backend" -c "$WORK/backend/nginx.conf" -e "$WORK/backend/logs/error.log"
else
	start backend "$LOAD_CORE" env GOMAXPROCS=1 "$WORK/backend" -listen "127.0.0.1:$BACKEND_PORT" -size "$BODY_SIZE"
fi
BACKEND_PID=$STARTED_PID
wait_ready backend "$BACKEND_PID" "http://127.0.0.1:$BACKEND_PORT/" || die "backend did not start"
check_response backend "http://127.0.0.1:$BACKEND_PORT/" || die "backend gives a wrong response"
mapfile -t BACKEND_PIDS < <(pid_tree "$BACKEND_PID")
EXTRA_PIDS+=("${BACKEND_PIDS[@]:1}")

# ---- proxies: on the proxy core
start_proxy() { # TARGET: start it and fill URL/SUBJECT, or record FAIL.
	local t=$1 port aport sport ready_url pids query=""
	free_port
	port=$PORT
	ready_url="http://127.0.0.1:$port/"
	case "$t" in
	nginx)
		write_nginx_proxy_conf "$WORK/nginx" "$port" "$BACKEND_PORT"
		start nginx "$PROXY_CORE" "$NGINX_BIN" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log"
		;;
	haproxy)
		write_haproxy_conf "$WORK/haproxy.cfg" "$port" "$BACKEND_PORT"
		"$HAPROXY_BIN" -c -q -f "$WORK/haproxy.cfg" >&2 || { FAIL[$t]="invalid config"; return 1; }
		start haproxy "$PROXY_CORE" "$HAPROXY_BIN" -db -f "$WORK/haproxy.cfg"
		;;
	caddy)
		write_caddyfile "$WORK/Caddyfile" "$port" "$BACKEND_PORT"
		mkdir -p "$WORK/caddy-home"
		start caddy "$PROXY_CORE" env GOMAXPROCS=1 HOME="$WORK/caddy-home" \
			XDG_CONFIG_HOME="$WORK/caddy-home/config" XDG_DATA_HOME="$WORK/caddy-home/data" \
			"$CADDY_BIN" run --config "$WORK/Caddyfile" --adapter caddyfile
		;;
	weir | weir-wasm | weir-wasm-c | weir-auth | weir-chain | weir-bare | weir-traced)
		free_port
		aport=$PORT
		free_port
		sport=$PORT
		plugin=""
		if [[ "$t" == weir-wasm ]]; then
			plugin="file://$ROOT/host/wasm/testdata/plugin.wasm"
		elif [[ "$t" == weir-wasm-c ]]; then
			plugin="file://$ROOT/sdk/c/examples/headers/headers.wasm"
		fi
		write_weir_conf "$WORK/$t.yaml" "$port" "$aport" "$sport" "$BACKEND_PORT" "$plugin"
		case "$t" in
		weir-auth)
			write_weir_auth_conf "$WORK/$t.yaml"
			query="?apikey=bench-key"
			;;
		weir-chain)
			write_weir_auth_conf "$WORK/$t.yaml"
			write_weir_chain_conf "$WORK/$t.yaml"
			query="?apikey=bench-key"
			;;
		weir-bare)
			sed -i 's/^weir:$/weir:\n  metrics: {enabled: false}\n  latency_headers: {enabled: false}/' "$WORK/$t.yaml"
			;;
		weir-traced)
			sed -i "s|^weir:\$|weir:\n  tracing: {endpoint: \"http://127.0.0.1:$BACKEND_PORT/v1/traces\", protocol: http, sampling_ratio: 1}|" "$WORK/$t.yaml"
			;;
		esac
		# The flags repeat the config's addresses so that no WEIR_*_LISTEN
		# variable in the environment can move a listener off loopback.
		start "$t" "$PROXY_CORE" env GOMAXPROCS=1 "$WEIR_BIN" run --config "$WORK/$t.yaml" \
			--proxy-listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$aport" --status-listen "127.0.0.1:$sport"
		ready_url="http://127.0.0.1:$sport/status/ready"
		;;
	httputil)
		start httputil "$PROXY_CORE" env GOMAXPROCS=1 "$WORK/httputilproxy" \
			-listen "127.0.0.1:$port" -upstream "http://127.0.0.1:$BACKEND_PORT" -idle "$CONNS"
		;;
	esac
	if ! wait_ready "$t" "$STARTED_PID" "$ready_url"; then
		FAIL[$t]="did not start"
		return 1
	fi
	if ! check_response "$t" "http://127.0.0.1:$port/${query-}"; then
		FAIL[$t]="wrong response before the load"
		return 1
	fi
	mapfile -t pids < <(pid_tree "$STARTED_PID")
	EXTRA_PIDS+=("${pids[@]:1}")
	URL[$t]="http://127.0.0.1:$port/${query-}"
	SUBJECT[$t]="${pids[*]}"
}

for t in "${TARGETS[@]}"; do
	case "$t" in
	direct)
		URL[$t]="http://127.0.0.1:$BACKEND_PORT/"
		SUBJECT[$t]="${BACKEND_PIDS[*]}"
		;;
	direct-shared)
		URL[$t]="http://127.0.0.1:$BACKEND_PORT/"
		SUBJECT[$t]="${BACKEND_PIDS[*]}"
		;;
	*)
		[[ -n "${SKIP[$t]-}" ]] && continue
		log "starting $t"
		start_proxy "$t" || echo "run.sh: $t FAILED: ${FAIL[$t]}" >&2
		;;
	esac
done

# ---------------------------------------------------------------- facts
halt_poll_fact="machine default"
if [[ -r "$HALT_POLL_PARAM" ]]; then
	halt_poll_fact="guest_halt_poll_ns $(cat "$HALT_POLL_PARAM") (machine default)"
fi
if [[ -n "$HALT_POLL" ]]; then
	HALT_POLL_SAVED=$(cat "$HALT_POLL_PARAM")
	echo "$HALT_POLL" >"$HALT_POLL_PARAM" || die "--halt-poll: cannot write $HALT_POLL_PARAM"
	halt_poll_fact="guest_halt_poll_ns $HALT_POLL (--halt-poll; was $HALT_POLL_SAVED, restored on exit)"
fi
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
v_nginx=$({ "$NGINX_BIN" -v 2>&1 || true; } | sed 's/^nginx version: //')
v_haproxy=$({ "$HAPROXY_BIN" -v 2>/dev/null || true; } | awk 'NR == 1 { print $3 }')
v_wrk=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }' || true)
v_go=$(go version 2>/dev/null | awk '{ print $3 }' || echo "n/a")
{
	echo "machine: $cpu_model, $NCPU cores; kernel $(uname -r); $v_go"
	echo "tools: nginx ${v_nginx:-n/a}; haproxy ${v_haproxy:-n/a}; caddy ${CADDY_BUILT:-not used}; wrk ${v_wrk:-n/a}"
	echo "layout: proxy on core $PROXY_CORE; wrk ($THREADS thread, $CONNS connections) and the $BACKEND_KIND backend on core $LOAD_CORE;"
	echo "        'direct' moves the backend alone to core $PROXY_CORE; 'direct-shared' leaves it on core $LOAD_CORE next to wrk"
	echo "idle: $halt_poll_fact"
	echo "runs: $ROUNDS x ${DURATION}s per target, each after a ${WARMUP}s warm-up, interleaved; ${BODY_SIZE}-byte responses; medians reported"
} | tee "$OUT_DIR/facts.txt" >&2

# ---------------------------------------------------------------- runs
printf 'round\ttarget\trps\tp50_us\tp99_us\trequests\tbytes_per_req\terrors\tsubject_cpu_pct\tproxy_core_busy_pct\tproxy_core_softirq_pct\tload_core_busy_pct\tother_cpu_pct\tsteal_pct\tattempt\tclean\n' >"$OUT_DIR/runs.tsv"
RUNNABLE=()
for t in "${TARGETS[@]}"; do
	[[ -n "${URL[$t]-}" && -z "${FAIL[$t]-}" ]] && RUNNABLE+=("$t")
done
n=${#RUNNABLE[@]}
NOISY_RUNS=0

pct() { # pct TICKS MICROSECONDS: TICKS as % of one core over that time
	awk -v t="$1" -v d="$2" -v hz="$HZ" 'BEGIN { printf "%.0f", (d > 0 ? t / hz / (d / 1e6) * 100 : 0) }'
}

# wait_quiet: before a measured run, wait (at most QUIET_WAIT seconds) until
# processes on the machine use at most NOISE_MAX % of a core. Our own
# servers are idle then, so what is measured is other people's load.
wait_quiet() {
	local i a b busy said=0
	((QUIET_WAIT > 0)) || return 0
	for ((i = 0; i < QUIET_WAIT; i++)); do
		a=$(awk '$1 == "cpu" { print $2 + $3 + $4 }' /proc/stat)
		sleep 1
		b=$(awk '$1 == "cpu" { print $2 + $3 + $4 }' /proc/stat)
		busy=$(((b - a) * 100 / HZ))
		((busy <= NOISE_MAX)) && return 0
		if ((!said)); then
			echo "   (machine busy: other processes use ${busy}% of a core; waiting up to ${QUIET_WAIT}s for it to settle)" >&2
			said=1
		fi
	done
	echo "   (still busy after ${QUIET_WAIT}s: measuring anyway)" >&2
}

# measure_once ROUND TARGET LOGFILE: one warm-up plus one measured wrk run.
# Sets RES (a runs.tsv row without the attempt column) and OTHER (the CPU
# other processes on the machine used meanwhile, % of one core); returns 1
# when wrk could not run.
measure_once() {
	local r=$1 t=$2 logf=$3 url=${URL[$2]} line
	local p0 p1 l0 l1 s0 s1 o0 o1 req dur bytes errs rps bpr
	local subj pc ps lc t0 t1 wall steal
	RES="" OTHER=0
	wait_quiet
	if ((WARMUP > 0)); then
		run_wrk "$url" "$WARMUP" "${logf%.log}-warmup.log" || return 1
	fi
	o0=$(other_ticks)
	t0=$EPOCHREALTIME
	read -r -a p0 < <(core_ticks "$PROXY_CORE")
	read -r -a l0 < <(core_ticks "$LOAD_CORE")
	# shellcheck disable=SC2086
	s0=$(proc_ticks ${SUBJECT[$t]})
	run_wrk "$url" "$DURATION" "$logf" || return 1
	# shellcheck disable=SC2086
	s1=$(proc_ticks ${SUBJECT[$t]})
	read -r -a p1 < <(core_ticks "$PROXY_CORE")
	read -r -a l1 < <(core_ticks "$LOAD_CORE")
	t1=$EPOCHREALTIME
	o1=$(other_ticks)
	# CPU shares are over the wall time between the two snapshots.
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1e6 }')
	line=$WRK_LINE
	req=$(kv requests "$line")
	dur=$(kv duration_us "$line")
	bytes=$(kv bytes "$line")
	errs=$(($(kv status "$line") + $(kv connect "$line") + $(kv read "$line") + $(kv write "$line") + $(kv timeout "$line")))
	rps=$(awk -v n="$req" -v d="$dur" 'BEGIN { printf "%.0f", (d > 0 ? n / (d / 1e6) : 0) }')
	bpr=$(awk -v b="$bytes" -v n="$req" 'BEGIN { printf "%.0f", (n > 0 ? b / n : 0) }')
	# A process that died during the run reads 0 at the end: count it as 0.
	((s1 >= s0)) || s1=$s0
	subj=$(pct $((s1 - s0)) "$wall")
	pc=$(pct $((p1[0] + p1[1] - p0[0] - p0[1])) "$wall")
	ps=$(pct $((p1[1] - p0[1])) "$wall")
	lc=$(pct $((l1[0] + l1[1] - l0[0] - l0[1])) "$wall")
	OTHER=$(pct $((o1 - o0)) "$wall")
	steal=$(pct $((p1[3] - p0[3] + l1[3] - l0[3])) "$wall")
	((OTHER >= 0)) || OTHER=0
	RES=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$r" "$t" "$rps" "$(kv p50_us "$line")" \
		"$(kv p99_us "$line")" "$req" "$bpr" "$errs" "$subj" "$pc" "$ps" "$lc" "$OTHER" "$steal")
	printf '   round %d %-13s %8s rps  p50 %6.2f ms  p99 %6.2f ms  errors %s  cpu%%: subject %s, core%s %s (softirq %s), core%s %s, other %s, steal %s\n' \
		"$r" "$t" "$rps" "$(awk -v u="$(kv p50_us "$line")" 'BEGIN { print u / 1000 }')" \
		"$(awk -v u="$(kv p99_us "$line")" 'BEGIN { print u / 1000 }')" "$errs" "$subj" \
		"$PROXY_CORE" "$pc" "$ps" "$LOAD_CORE" "$lc" "$OTHER" "$steal" >&2
}

# measure ROUND TARGET: measure_once, repeated (up to NOISE_RETRIES more
# times) while other processes used more than NOISE_MAX % of a core; then
# check the result and record it.
measure() {
	local r=$1 t=$2 a line errs req bpr
	local attempt=0
	for ((a = 1; a <= 1 + NOISE_RETRIES; a++)); do
		attempt=$a
		[[ "$t" == direct ]] && repin "${BACKEND_PIDS[@]}" "$PROXY_CORE"
		if ! measure_once "$r" "$t" "$OUT_DIR/logs/wrk-$t-r$r-a$a.log"; then
			[[ "$t" == direct ]] && repin "${BACKEND_PIDS[@]}" "$LOAD_CORE"
			FAIL[$t]="wrk failed (round $r)"
			return 1
		fi
		[[ "$t" == direct ]] && repin "${BACKEND_PIDS[@]}" "$LOAD_CORE"
		# A run with errors fails the target whatever the noise: no retry.
		[[ "$(awk -F'\t' '{ print $8 }' <<<"$RES")" == 0 ]] || break
		((OTHER <= NOISE_MAX)) && break
		if ((a <= NOISE_RETRIES)); then
			echo "   (other processes used ${OTHER}% of a core, over --max-noise $NOISE_MAX: measuring again)" >&2
		else
			echo "   (other processes used ${OTHER}% of a core; keeping this run, marked noisy)" >&2
			NOISY_RUNS=$((NOISY_RUNS + 1))
		fi
	done
	printf '%s\t%s\t%s\n' "$RES" "$attempt" "$((OTHER <= NOISE_MAX))" >>"$OUT_DIR/runs.tsv"
	line=$WRK_LINE
	req=$(kv requests "$line")
	errs=$(awk -F'\t' '{ print $8 }' <<<"$RES")
	bpr=$(awk -F'\t' '{ print $7 }' <<<"$RES")
	if ((errs > 0)); then
		FAIL[$t]="wrk reported errors: $(kv status "$line") non-2xx/3xx, socket connect $(kv connect "$line") read $(kv read "$line") write $(kv write "$line") timeout $(kv timeout "$line") (round $r)"
	elif ((req == 0)); then
		FAIL[$t]="no requests completed (round $r)"
	elif ((bpr < BODY_SIZE || bpr >= 2 * BODY_SIZE)); then
		FAIL[$t]="average response size $bpr bytes is not a $BODY_SIZE-byte body plus headers (round $r)"
	elif ! check_response "$t-after" "${URL[$t]}"; then
		# A response is also checked after the load, not just before it.
		FAIL[$t]="wrong response after the load (round $r)"
	fi
	[[ -z "${FAIL[$t]-}" ]]
}

if ((n > 0)); then
	for ((r = 1; r <= ROUNDS; r++)); do
		log "round $r of $ROUNDS"
		# Rotate the order each round so no target always runs first or last.
		for ((k = 0; k < n; k++)); do
			t=${RUNNABLE[$(((k + r - 1) % n))]}
			[[ -n "${FAIL[$t]-}" ]] && continue
			measure "$r" "$t" || echo "run.sh: $t: ${FAIL[$t]-failed}" >&2
		done
	done
fi

# ---------------------------------------------------------------- report
median() { # median of the numbers on stdin
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# Rows of one target that count: its clean runs (other processes stayed under
# --max-noise) when it has any, else all of its runs.
rows() { # TARGET
	awk -F'\t' -v t="$1" 'NR > 1 && $2 == t { all[++n] = $0; if ($16 == 1) clean[++m] = $0 }
		END { if (m) for (i = 1; i <= m; i++) print clean[i]; else for (i = 1; i <= n; i++) print all[i] }' "$OUT_DIR/runs.tsv"
}
col_median() { # TARGET COLUMN
	rows "$1" | awk -F'\t' -v c="$2" '{ print $c }' | median
}
col_range() { # TARGET COLUMN: min-max
	rows "$1" | awk -F'\t' -v c="$2" '{ if (n++ == 0 || $c < lo) lo = $c; if ($c > hi) hi = $c } END { if (n) printf "%d-%d", lo, hi }'
}
col_count() { # TARGET: "used/all" runs
	awk -F'\t' -v t="$1" 'NR > 1 && $2 == t { n++; if ($16 == 1) m++ } END { printf "%d/%d", (m ? m : n), n }' "$OUT_DIR/runs.tsv"
}

declare -A MED_RPS=()
for t in "${TARGETS[@]}"; do
	[[ -z "${FAIL[$t]-}" && -z "${SKIP[$t]-}" ]] || continue
	MED_RPS[$t]=$(col_median "$t" 3)
done
# ratio TARGET BASE: median over rounds of TARGET's RPS / BASE's RPS in the
# same round (interleaving makes each round a fair pair, whatever the machine
# did between rounds); "-" when the two never ran in the same round.
ratio() {
	local r
	[[ -n "${MED_RPS[$1]-}" && -n "${MED_RPS[$2]-}" ]] || { echo "-"; return; }
	r=$(join -t $'\t' <(rows "$1" | awk -F'\t' '{ print $1 "\t" $3 }' | sort) \
		<(rows "$2" | awk -F'\t' '{ print $1 "\t" $3 }' | sort) |
		awk -F'\t' '$3 > 0 { print $2 / $3 }' | median)
	if [[ -n "$r" ]]; then printf '%.2fx' "$r"; else echo "-"; fi
}
col_sum() { # TARGET COLUMN
	awk -F'\t' -v t="$1" -v c="$2" 'NR > 1 && $2 == t { s += $c } END { printf "%d", s }' "$OUT_DIR/runs.tsv"
}
{
	echo "| target | runs | RPS (median) | RPS min-max | p50 ms | p99 ms | x direct | x nginx | subject CPU | core $PROXY_CORE busy (softirq) | core $LOAD_CORE busy | other CPU | errors |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for t in "${TARGETS[@]}"; do
		if [[ -n "${SKIP[$t]-}" ]]; then
			echo "| $t | skipped: ${SKIP[$t]} | | | | | | | | | | | |"
			continue
		fi
		rps=${MED_RPS[$t]-}
		if [[ -z "${FAIL[$t]-}" && -n "$rps" ]]; then
			rps=$(printf '%.0f' "$rps")
			p50=$(awk -v u="$(col_median "$t" 4)" 'BEGIN { printf "%.2f", u / 1000 }')
			p99=$(awk -v u="$(col_median "$t" 5)" 'BEGIN { printf "%.2f", u / 1000 }')
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %.0f%% | %.0f%% (%.0f%%) | %.0f%% | %.0f%% | 0 |\n' \
				"$t" "$(col_count "$t")" "$rps" "$(col_range "$t" 3)" "$p50" "$p99" "$(ratio "$t" direct)" "$(ratio "$t" nginx)" \
				"$(col_median "$t" 9)" "$(col_median "$t" 10)" "$(col_median "$t" 11)" "$(col_median "$t" 12)" "$(col_median "$t" 13)"
		else
			echo "| $t | FAILED: ${FAIL[$t]-no result} | | | | | | | | | | | $(col_sum "$t" 8) |"
		fi
	done
} >"$OUT_DIR/results.md"

echo
cat "$OUT_DIR/facts.txt"
echo
cat "$OUT_DIR/results.md"
echo
echo "Ratios: median over rounds of the ratio within a round. Medians over the runs during which other processes used at most $NOISE_MAX% of a core (runs: used/all;"
echo "all runs when none was that quiet). CPU columns are % of one core over the measured run: subject = the process under"
echo "test (the proxy; the backend in direct rows), user+system; core busy = everything on that core, with the"
echo "kernel's packet processing (softirq) in brackets; other = CPU used meanwhile by processes that are not ours."
if ((NOISY_RUNS > 0)); then
	echo "WARNING: $NOISY_RUNS run(s) kept although other processes used more than $NOISE_MAX% of a core (see runs.tsv)."
fi
if ((KEEP_OUT)); then
	echo "raw runs, logs and this table: $OUT_DIR"
fi

status=0
for t in "${TARGETS[@]}"; do
	[[ -n "${FAIL[$t]-}" ]] && status=1
done
exit "$status"

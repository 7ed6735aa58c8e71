#!/usr/bin/env bash
# Startup figures for the release binary: size, time from exec to /readyz answering 200 (first
# start on a fresh data dir, which generates the certificate and migrates, and a second start on
# the same dir), and idle RSS 2 s after ready.
#
#   bash benches/startup.sh            # CARGO_TARGET_DIR is respected (default ./target)
#   STARTUP_RUNS=9 bash benches/startup.sh
#
# Needs only bash, curl, date and coreutils. Listens on 127.0.0.1 only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS="${STARTUP_RUNS:-5}"
POLL="${STARTUP_POLL_SECS:-0.01}"      # pause between readiness probes
TIMEOUT_MS="${STARTUP_TIMEOUT_MS:-30000}"
IDLE_SECS="${STARTUP_IDLE_SECS:-2}"
TARGET_DIR="${CARGO_TARGET_DIR:-./target}"

echo "== cargo build --release (target dir: $TARGET_DIR)"
cargo build --release
BIN="$TARGET_DIR/release/lethe"
[[ -x "$BIN" ]] || { echo "no binary at $BIN" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/lethe-startup.XXXXXX")"
SERVER_PID=""

stop_server() {
    local pid="$SERVER_PID"
    [[ -n "$pid" ]] || return 0
    SERVER_PID=""
    kill -TERM "$pid" 2>/dev/null || return 0
    local i
    for ((i = 0; i < 100; i++)); do           # up to 10 s for the graceful stop
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "  (pid $pid ignored SIGTERM for 10 s; sending SIGKILL)" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Nanoseconds since the epoch: bash 5's $EPOCHREALTIME (no fork), else date(1).
if [[ -n "${EPOCHREALTIME:-}" ]]; then
    now_ns() { local t="${EPOCHREALTIME/[.,]/}"; echo "$(( 10#$t * 1000 ))"; }
else
    now_ns() { date +%s%N; }
fi

# A port nobody answers on: try random high ports, bash's /dev/tcp says whether one is taken.
free_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# Integer nanoseconds -> milliseconds with one decimal.
fmt_ms() { local us=$(( ($1 + 500) / 1000 )); printf '%d.%d' $((us / 1000)) $(( (us % 1000) / 100 )); }
fmt_mib() { local k=$(( $1 * 100 / 1048576 )); printf '%d.%02d' $((k / 100)) $((k % 100)); }

median() { local -a v; mapfile -t v < <(printf '%s\n' "$@" | sort -n); echo "${v[$(( ($# - 1) / 2 ))]}"; }
minimum() { printf '%s\n' "$@" | sort -n | head -n 1; }
maximum() { printf '%s\n' "$@" | sort -n | tail -n 1; }

# start_once DATA_DIR LOG: starts `lethe serve`, waits for /readyz 200, sets READY_NS (exec to
# 200), OPEN_NS (exec to the port accepting connections), RSS_KB (VmRSS IDLE_SECS after ready)
# and PROBE_NS (what one more readiness probe costs against the now-idle server).
start_once() {
    local dir="$1" log="$2" port start t status
    port="$(free_port)"
    OPEN_NS=""
    start="$(now_ns)"
    "$BIN" serve --data-dir "$dir" --listen "127.0.0.1:$port" >"$log" 2>&1 &
    SERVER_PID=$!
    while :; do
        t="$(now_ns)"
        if (( (t - start) / 1000000 > TIMEOUT_MS )); then
            echo "lethe did not become ready within ${TIMEOUT_MS} ms; its output:" >&2
            cat "$log" >&2
            exit 1
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "lethe exited before becoming ready; its output:" >&2
            cat "$log" >&2
            exit 1
        fi
        if [[ -z "$OPEN_NS" ]]; then
            # Cheap probe (no TLS, no curl) until the port accepts connections.
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                OPEN_NS=$(( $(now_ns) - start ))
            else
                sleep "$POLL"
                continue
            fi
        fi
        status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
            --cacert "$dir/tls/cert.pem" "https://127.0.0.1:$port/readyz" || true)"
        if [[ "$status" == "200" ]]; then
            READY_NS=$(( $(now_ns) - start ))
            break
        fi
        sleep "$POLL"
    done
    sleep "$IDLE_SECS"
    RSS_KB="?"
    local key value _
    while read -r key value _; do
        [[ "$key" == "VmRSS:" ]] && RSS_KB="$value"
    done <"/proc/$SERVER_PID/status"
    t="$(now_ns)"
    curl -s -o /dev/null --max-time 2 --cacert "$dir/tls/cert.pem" "https://127.0.0.1:$port/readyz" || true
    PROBE_NS=$(( $(now_ns) - t ))
    stop_server
}

SIZE="$(stat -c %s "$BIN")"
echo
echo "== release binary: $BIN"
echo "   size: $SIZE bytes ($(fmt_mib "$SIZE") MiB)"
echo
echo "== startup: exec -> /readyz 200 over HTTPS, $RUNS runs each, polling every ${POLL}s"
echo "   (each probe is a curl process, so figures include up to one poll interval + a curl start)"

first_ready=() first_open=() first_rss=() second_ready=() second_open=() second_rss=() probes=()
for ((run = 1; run <= RUNS; run++)); do
    dir="$WORK/data-$run"
    mkdir -p "$dir"
    start_once "$dir" "$WORK/first-$run.log"
    first_ready+=("$READY_NS"); first_open+=("$OPEN_NS"); first_rss+=("$RSS_KB")
    start_once "$dir" "$WORK/second-$run.log"
    second_ready+=("$READY_NS"); second_open+=("$OPEN_NS"); second_rss+=("$RSS_KB"); probes+=("$PROBE_NS")
    printf '   run %d: first start %s ms (port open %s ms, idle RSS %s KiB); second start %s ms (port open %s ms, idle RSS %s KiB)\n' \
        "$run" "$(fmt_ms "${first_ready[-1]}")" "$(fmt_ms "${first_open[-1]}")" "${first_rss[-1]}" \
        "$(fmt_ms "${second_ready[-1]}")" "$(fmt_ms "${second_open[-1]}")" "${second_rss[-1]}"
done

report() {
    local label="$1"; shift
    local -n ready="$1" open="$2" rss="$3"
    local med_rss
    med_rss="$(median "${rss[@]}")"
    printf '%-40s ready median %7s ms (min %s, max %s); port open median %s ms; idle RSS median %s KiB (%s MiB)\n' \
        "$label" "$(fmt_ms "$(median "${ready[@]}")")" "$(fmt_ms "$(minimum "${ready[@]}")")" \
        "$(fmt_ms "$(maximum "${ready[@]}")")" "$(fmt_ms "$(median "${open[@]}")")" \
        "$med_rss" "$(fmt_mib $((med_rss * 1024)))"
}

echo
echo "== summary ($RUNS runs, medians)"
printf '%-40s %s bytes (%s MiB)\n' "binary size" "$SIZE" "$(fmt_mib "$SIZE")"
report "first start (new cert + migrations)" first_ready first_open first_rss
report "second start (existing data dir)" second_ready second_open second_rss
printf '%-40s median %s ms (a curl start + TLS handshake + GET /readyz on an idle server)\n' \
    "one readiness probe costs" "$(fmt_ms "$(median "${probes[@]}")")"
echo
echo "NOTE: release binary $(fmt_mib "$SIZE") MiB; exec -> /readyz 200: first start $(fmt_ms "$(median "${first_ready[@]}")") ms, second start $(fmt_ms "$(median "${second_ready[@]}")") ms (median of $RUNS); idle RSS ${IDLE_SECS} s after ready $(median "${first_rss[@]}") KiB first / $(median "${second_rss[@]}") KiB second."

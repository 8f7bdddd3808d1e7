#!/usr/bin/env bash
# Side-by-side on loopback: egresslab's lab proxy against Squid, tinyproxy and mitmproxy, driven by
# the same load generator (egresslab-load), printing one table of ratios. See docs/performance.md.
#
#   benches/compare/run.sh                 # install peers if missing, build, measure, print
#   RUNS=5 SECONDS_PER=3 benches/compare/run.sh
#
# Bounded: every load stops by itself (RUNS x SECONDS_PER per rate), every process it starts is
# killed on exit, and all traffic stays on 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-3}                # runs per rate; the median is reported
SECONDS_PER=${SECONDS_PER:-2}  # length of one set-up or handshake run
BULK_MIB=${BULK_MIB:-1024}     # size of one bulk stream
IDLE=${IDLE:-5000}             # idle tunnels held for the memory row
INSTALL=${INSTALL:-1}          # 0: do not install missing peers
BUILD=${BUILD:-1}              # 0: use the release binary already built

WORK=$(mktemp -d /tmp/egresslab-compare.XXXXXX)
chmod 777 "$WORK" # Squid and tinyproxy drop to unprivileged users and log here
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # Bounded wait: 5 s per process, then SIGKILL.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

install_peers() {
    local missing=()
    command -v squid >/dev/null || [ -x /usr/sbin/squid ] || missing+=(squid)
    command -v tinyproxy >/dev/null || [ -x /usr/sbin/tinyproxy ] || missing+=(tinyproxy)
    command -v iperf3 >/dev/null || missing+=(iperf3)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        # The packages may start system services on 3128/8888/5201; this script starts its own.
        for service in squid tinyproxy iperf3; do
            systemctl disable --now "$service" >/dev/null 2>&1 || service "$service" stop >/dev/null 2>&1 || true
        done
    fi
    if ! command -v mitmdump >/dev/null; then
        log "installing mitmproxy (PyPI)"
        # Debian's own python3 is externally managed (PEP 668): fall back to a user install.
        python3 -m pip install -q mitmproxy 2>/dev/null ||
            python3 -m pip install -q --user --break-system-packages mitmproxy
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait (at most 30 s) until something listens on 127.0.0.1:$1.
wait_port() {
    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "nothing listens on 127.0.0.1:$1"
    return 1
}

# Wait (at most 60 s) for a ready file.
wait_file() {
    for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done
    log "no ready file $1"
    return 1
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# spread VALUES...: "median (min..max)", or "-" when there is none; a failed run counts as 0.
spread() {
    [ $# -gt 0 ] || { echo -; return; }
    printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "%s (%s..%s)", v[int((NR+1)/2)], v[1], v[NR]}'
}

# first WORD-OF "median (min..max)": the median alone, for ratios.
first() { printf '%s' "${1%% *}"; }

# cpu_ticks PID: the process's user + system CPU time in clock ticks (/proc/PID/stat fields 14
# and 15, counted after the parenthesised command name, which may hold spaces).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
CLK_TCK=$(getconf CLK_TCK)

# loadavg: the three load averages.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# interleaved N A-cmd -- B-cmd: run A and B alternately N times each, print "medianA medianB", so
# that a drift in the machine's load during the runs falls on both sides of the ratio alike.
interleaved() {
    local n=$1 a=() b=() left=() right=() side=left
    shift
    for word in "$@"; do
        if [ "$word" = -- ]; then side=right; continue; fi
        if [ "$side" = left ]; then left+=("$word"); else right+=("$word"); fi
    done
    for _ in $(seq "$n"); do
        a+=("$("${left[@]}")")
        b+=("$("${right[@]}")")
    done
    printf '%s %s\n' "$(median "${a[@]}")" "$(median "${b[@]}")"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

export PATH="$PATH:/usr/sbin:$HOME/.local/bin"
if [ "$INSTALL" = 1 ]; then install_peers; fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

LOAD="${CARGO_TARGET_DIR:-$ROOT/target}/release/egresslab-load"
if [ "$BUILD" = 1 ]; then
    log "building egresslab-load (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin egresslab-load)
fi

LOAD_BEFORE=$(loadavg)
log "load before: $LOAD_BEFORE"

# Origins: echo, sink, late reply, TLS (certificate from the cached lab CAs in $WORK/ca), and a
# keep-alive HTTP origin for forwarded requests.
"$LOAD" origins --ca-dir "$WORK/ca" --ready-file "$WORK/origins.env" &
PIDS+=($!)
wait_file "$WORK/origins.env"
# shellcheck disable=SC1091
. "$WORK/origins.env"
cat "$WORK"/ca/*.pem >"$WORK/bundle.pem"

# egresslab: a lab in its own process with a plain and an intercepting proxy.
"$LOAD" lab --ca-dir "$WORK/ca" --origins "$WORK/origins.env" --ready-file "$WORK/lab.env" &
EGRESSLAB_PID=$!
PIDS+=($EGRESSLAB_PID)
wait_file "$WORK/lab.env"
# shellcheck disable=SC1091
. "$WORK/lab.env"

# The same lab again with the control API on (no toxic anywhere): what having it on costs.
"$LOAD" lab --ca-dir "$WORK/ca" --origins "$WORK/origins.env" --ready-file "$WORK/lab-control.env" --control &
CONTROL_PID=$!
PIDS+=($CONTROL_PID)
wait_file "$WORK/lab-control.env"
PLAIN_CONTROL=$(sed -n 's/^PLAIN=//p' "$WORK/lab-control.env")

# Squid, one process in the foreground.
SQUID_PORT=$(free_port)
sed -e "s|@PORT@|$SQUID_PORT|" -e "s|@WORK@|$WORK|" "$HERE/squid.conf" >"$WORK/squid.conf"
squid -N -f "$WORK/squid.conf" 2>"$WORK/squid.err" &
SQUID_PID=$!
PIDS+=($SQUID_PID)

# tinyproxy in the foreground.
TINY_PORT=$(free_port)
sed -e "s|@PORT@|$TINY_PORT|" -e "s|@WORK@|$WORK|" "$HERE/tinyproxy.conf" >"$WORK/tinyproxy.conf"
tinyproxy -d -c "$WORK/tinyproxy.conf" 2>"$WORK/tinyproxy.err" &
TINY_PID=$!
PIDS+=($TINY_PID)

# mitmproxy: a blind tunnel and an intercepting instance sharing egresslab's inspection CA.
mkdir -p "$WORK/mitm"
cat "$WORK/ca/inspection.key" "$WORK/ca/inspection.pem" >"$WORK/mitm/mitmproxy-ca.pem"
MITM_PORT=$(free_port)
mitmdump -q --listen-host 127.0.0.1 --listen-port "$MITM_PORT" --set confdir="$WORK/mitm" \
    --ignore-hosts '.*' >"$WORK/mitm-tunnel.log" 2>&1 &
MITM_PID=$!
PIDS+=($MITM_PID)
MITMI_PORT=$(free_port)
mitmdump -q --listen-host 127.0.0.1 --listen-port "$MITMI_PORT" --set confdir="$WORK/mitm" \
    --set ssl_verify_upstream_trusted_ca="$WORK/bundle.pem" >"$WORK/mitm-intercept.log" 2>&1 &
PIDS+=($!)

for port in "$SQUID_PORT" "$TINY_PORT" "$MITM_PORT" "$MITMI_PORT"; do wait_port "$port"; done

# The peers reach the origins by address; egresslab by its passthrough names.
NAMES=(direct egresslab squid tinyproxy mitmproxy)
declare -A VIA=([egresslab]="$PLAIN" [control]="$PLAIN_CONTROL" [squid]="127.0.0.1:$SQUID_PORT"
    [tinyproxy]="127.0.0.1:$TINY_PORT" [mitmproxy]="127.0.0.1:$MITM_PORT")
declare -A PID=([egresslab]=$EGRESSLAB_PID [squid]=$SQUID_PID [tinyproxy]=$TINY_PID [mitmproxy]=$MITM_PID)
route() { # route NAME ORIGIN-VAR NAMED-HOST
    local name=$1 address=$2 host=$3
    case $name in
    direct) printf -- '--to %s' "$address" ;;
    egresslab | control) printf -- '--via %s --to %s:%s' "${VIA[$name]}" "$host" "${address##*:}" ;;
    *) printf -- '--via %s --to %s' "${VIA[$name]}" "$address" ;;
    esac
}

declare -A BULK SET1 SET64 HWM PER HALF CPU P50 P99 ADD50 ADD99
# Memory first, on fresh proxy processes: IDLE tunnels held, peak RSS and RSS growth per tunnel.
for name in egresslab squid tinyproxy mitmproxy; do
    log "idle tunnels: $name"
    # shellcheck disable=SC2046
    read -r hwm before holding < <("$LOAD" idle $(route "$name" "$ECHO" echo.egresslab.test) \
        --count "$IDLE" --pid "${PID[$name]}" || echo "0 0 0")
    HWM[$name]=$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')
    PER[$name]=$(awk -v a="$holding" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.1f", (a - b) / n }')
done
# Interleaved: each repetition runs every route once, the routes' order rotating from one
# repetition to the next, so a burst of load from elsewhere on the machine lands on one repetition of
# every route rather than on every repetition of one route. Per route the values are kept in order
# and reported as median (min..max).
declare -A BULKS CPUS SET1S SET64S P50S P99S
rotated() { # rotated K: NAMES rotated left by K
    local k=$(($1 % ${#NAMES[@]}))
    printf '%s\n' "${NAMES[@]:k}" "${NAMES[@]:0:k}"
}
for rep in $(seq "$RUNS"); do
    log "repetition $rep of $RUNS: $(rotated "$rep" | tr '\n' ' ')(load $(loadavg))"
    while read -r name; do
        pid=${PID[$name]:-}
        before=0
        [ -n "$pid" ] && before=$(cpu_ticks "$pid")
        # shellcheck disable=SC2046
        mbs=$("$LOAD" bulk $(route "$name" "$SINK" sink.egresslab.test) --mib "$BULK_MIB" || echo 0)
        BULKS[$name]+=" $mbs"
        if [ -n "$pid" ]; then
            after=$(cpu_ticks "$pid")
            CPUS[$name]+=" $(awk -v t="$((after - before))" -v hz="$CLK_TCK" -v mib="$BULK_MIB" \
                'BEGIN { printf "%.2f", t / hz / (mib / 1024) }')"
        fi
        # shellcheck disable=SC2046
        read -r rate p50 p99 < <("$LOAD" setups $(route "$name" "$ECHO" echo.egresslab.test) \
            --concurrency 1 --seconds "$SECONDS_PER" --latency || echo "0 0 0")
        SET1S[$name]+=" $rate"
        P50S[$name]+=" $p50"
        P99S[$name]+=" $p99"
        # shellcheck disable=SC2046
        SET64S[$name]+=" $("$LOAD" setups $(route "$name" "$ECHO" echo.egresslab.test) \
            --concurrency 64 --seconds "$SECONDS_PER" || echo 0)"
    done < <(rotated "$rep")
done
for name in "${NAMES[@]}"; do
    # shellcheck disable=SC2086
    BULK[$name]=$(spread ${BULKS[$name]})
    # shellcheck disable=SC2086
    CPU[$name]=$(spread ${CPUS[$name]:-})
    # shellcheck disable=SC2086
    SET1[$name]=$(spread ${SET1S[$name]})
    # shellcheck disable=SC2086
    SET64[$name]=$(spread ${SET64S[$name]})
    # shellcheck disable=SC2086
    P50[$name]=$(median ${P50S[$name]})
    # shellcheck disable=SC2086
    P99[$name]=$(median ${P99S[$name]})
    # shellcheck disable=SC2046
    HALF[$name]=$("$LOAD" halfclose $(route "$name" "$LATE" late.egresslab.test) || echo error)
done
# Added latency per set-up over direct (c=1, the same loops as the set-up rate), microseconds.
for name in "${NAMES[@]}"; do
    ADD50[$name]=$(awk -v a="${P50[$name]}" -v d="${P50[direct]}" 'BEGIN { printf "%.0f", a - d }')
    ADD99[$name]=$(awk -v a="${P99[$name]}" -v d="${P99[direct]}" 'BEGIN { printf "%.0f", a - d }')
done
# Forwarded plain-HTTP requests (GET http://...) on one kept-alive client connection (c=1), through
# egresslab and Squid, alternating which goes first; the origin is the keep-alive HTTP origin.
declare -A FWD FWDS
FWD_NAMES=(egresslab squid)
for rep in $(seq "$RUNS"); do
    for i in 0 1; do
        name=${FWD_NAMES[$(((rep + i) % 2))]}
        # shellcheck disable=SC2046
        FWDS[$name]+=" $("$LOAD" forwarded $(route "$name" "$HTTP" http.egresslab.test) \
            --seconds "$SECONDS_PER" || echo 0)"
    done
done
for name in "${FWD_NAMES[@]}"; do
    # shellcheck disable=SC2086
    FWD[$name]=$(spread ${FWDS[$name]})
done
# The control API's cost: the same lab with it off and on, measured alternately.
log "control API off and on, interleaved"
# shellcheck disable=SC2046
read -r BULK_OFF BULK[control] < <(interleaved "$((RUNS * 2 - 1))" \
    "$LOAD" bulk $(route egresslab "$SINK" sink.egresslab.test) --mib "$BULK_MIB" -- \
    "$LOAD" bulk $(route control "$SINK" sink.egresslab.test) --mib "$BULK_MIB")
# shellcheck disable=SC2046
read -r SET64_OFF SET64[control] < <(interleaved "$((RUNS * 2 - 1))" \
    "$LOAD" setups $(route egresslab "$ECHO" echo.egresslab.test) --concurrency 64 --seconds "$SECONDS_PER" -- \
    "$LOAD" setups $(route control "$ECHO" echo.egresslab.test) --concurrency 64 --seconds "$SECONDS_PER")
log "TLS handshakes, interleaved"
HS=(direct egresslab mitmproxy)
declare -A HSS
handshakes() { # handshakes NAME: one run of intercepted (or direct) handshakes
    case $1 in
    direct) "$LOAD" handshakes --to "$TLS" --sni origin.egresslab.test --ca "$WORK/bundle.pem" \
        --seconds "$SECONDS_PER" ;;
    egresslab) "$LOAD" handshakes --via "$INSPECT" --to "origin.egresslab.test:${TLS##*:}" \
        --sni origin.egresslab.test --ca "$WORK/ca/inspection.pem" --seconds "$SECONDS_PER" ;;
    mitmproxy) "$LOAD" handshakes --via "127.0.0.1:$MITMI_PORT" --to "$TLS" \
        --sni origin.egresslab.test --ca "$WORK/ca/inspection.pem" --seconds "$SECONDS_PER" ;;
    esac
}
for rep in $(seq "$RUNS"); do
    for i in 0 1 2; do
        name=${HS[$(((rep + i) % 3))]}
        HSS[$name]+=" $(handshakes "$name" || echo 0)"
    done
done
# shellcheck disable=SC2086
HS_DIRECT=$(spread ${HSS[direct]})
# shellcheck disable=SC2086
HS_EGRESSLAB=$(spread ${HSS[egresslab]})
# shellcheck disable=SC2086
HS_MITM=$(spread ${HSS[mitmproxy]})
IPERF=-
if command -v iperf3 >/dev/null; then
    IPERF_PORT=$(free_port)
    # A persistent server: wait_port's probe connection must not use up a one-off (-1) server.
    iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" >/dev/null 2>&1 &
    PIDS+=($!)
    wait_port "$IPERF_PORT"
    IPERF=$(iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -t "$SECONDS_PER" -J 2>/dev/null |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6))' ||
        echo -)
fi
LOAD_AFTER=$(loadavg)

# One table: medians with (min..max) of the repetitions; ratios from the medians.
m() { first "$1"; } # the median of "median (min..max)"
printf '\negresslab side by side, %s, %s cores, %s; medians (min..max) of %s interleaved runs\n' \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$(uname -r)" "$RUNS"
printf 'load average before: %s; after: %s\n\n' "$LOAD_BEFORE" "$LOAD_AFTER"
fmt='| %-42s | %-21s | %-21s | %-21s | %-21s | %-21s | %-26s |\n'
printf "$fmt" metric direct egresslab squid tinyproxy mitmproxy "egresslab ratio (target)"
printf "$fmt" ------------------------------------------ --------------------- --------------------- \
    --------------------- --------------------- --------------------- --------------------------
row() { # row LABEL NAME-ARRAY: one value per route
    local label=$1
    local -n values=$2
    printf "$fmt" "$label" "${values[direct]:--}" "${values[egresslab]:--}" "${values[squid]:--}" \
        "${values[tinyproxy]:--}" "${values[mitmproxy]:--}" "$3"
}
row "bulk tunnel MB/s (1 stream, ${BULK_MIB} MiB)" BULK \
    "$(ratio "$(m "${BULK[egresslab]}")" "$(m "${BULK[direct]}")") x direct (>=0.6)"
printf "$fmt" "  as a fraction of direct" 1.00 "$(ratio "$(m "${BULK[egresslab]}")" "$(m "${BULK[direct]}")")" \
    "$(ratio "$(m "${BULK[squid]}")" "$(m "${BULK[direct]}")")" \
    "$(ratio "$(m "${BULK[tinyproxy]}")" "$(m "${BULK[direct]}")")" \
    "$(ratio "$(m "${BULK[mitmproxy]}")" "$(m "${BULK[direct]}")")" "(iperf3 direct: $IPERF MB/s)"
row "proxy CPU-seconds per GiB relayed" CPU \
    "$(ratio "$(m "${CPU[egresslab]}")" "$(m "${CPU[squid]}")") x Squid's CPU"
printf "$fmt" "  control API off / on (interleaved)" - "$BULK_OFF / ${BULK[control]}" - - - \
    "$(ratio "${BULK[control]}" "$BULK_OFF") x control off (>=0.95)"
row "set-ups/s, concurrency 1" SET1 \
    "$(ratio "$(m "${SET1[egresslab]}")" "$(m "${SET1[tinyproxy]}")") x tiny (>=1.2), $(ratio "$(m "${SET1[egresslab]}")" "$(m "${SET1[squid]}")") x Squid (>=2)"
row "  added latency per set-up p50, us (c=1)" ADD50 ""
row "  added latency per set-up p99, us (c=1)" ADD99 ""
row "forwarded keep-alive requests/s (c=1)" FWD \
    "$(ratio "$(m "${FWD[egresslab]}")" "$(m "${FWD[squid]}")") x Squid"
row "set-ups/s, concurrency 64" SET64 \
    "$(ratio "$(m "${SET64[egresslab]}")" "$(m "${SET64[squid]}")") x Squid (>=2), $(ratio "$(m "${SET64[egresslab]}")" "$(m "${SET64[tinyproxy]}")") x tiny (>1)"
printf "$fmt" "  c=64, control API off / on (interleaved)" - "$SET64_OFF / ${SET64[control]}" - - - \
    "$(ratio "${SET64[control]}" "$SET64_OFF") x control off"
printf "$fmt" "intercepted TLS handshakes/s (c=4)" "$HS_DIRECT" "$HS_EGRESSLAB" - - "$HS_MITM" \
    "$(ratio "$(m "$HS_EGRESSLAB")" "$(m "$HS_MITM")") x mitmproxy (>=10)"
printf "$fmt" "  as a fraction of direct TLS" 1.00 "$(ratio "$(m "$HS_EGRESSLAB")" "$(m "$HS_DIRECT")")" - - \
    "$(ratio "$(m "$HS_MITM")" "$(m "$HS_DIRECT")")" "(>=0.6)"
row "peak RSS (MiB), $IDLE idle tunnels" HWM "$(ratio "${HWM[egresslab]}" "${HWM[squid]}") x Squid"
row "RSS growth per idle tunnel (KiB)" PER "<= 16 KiB"
row "half-close carried (late reply)" HALF ""
printf '\negresslab lab (2 proxies, cached CA) up in %s ms\n' "$UP_MS"

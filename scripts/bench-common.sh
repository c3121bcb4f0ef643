# Shared by the scripts/bench-* scripts (sourced, not run). Benchmarks stay on this
# machine: every server listens on 127.0.0.1 and every load goes to 127.0.0.1.

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo_root/target}
release=$target_dir/release

bench_log() { echo "bench: $*" >&2; }
bench_die() { echo "bench: error: $*" >&2; exit 1; }

# One line saying what machine and when: cores, CPU model, load, date.
machine_note() {
    local model
    model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    echo "machine: $(nproc)-core VM ($model), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Waits (at most 60 s) until the 1-minute load average is below $1 (default 1.5), so
# a measurement does not share the 2 cores with someone's compile. Says when it gives up.
wait_quiet() {
    local limit=${1:-1.5} i
    for ((i = 0; i < 12; i++)); do
        awk -v l="$limit" '{ exit !($1 < l) }' /proc/loadavg && return 0
        ((i == 0)) && bench_log "load $(cut -d' ' -f1 /proc/loadavg) ≥ $limit: waiting up to 60 s for a quieter machine"
        sleep 5
    done
    bench_log "machine still busy (load $(cut -d' ' -f1 /proc/loadavg)): measuring anyway; the note says so"
}

# A free TCP/UDP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# CPU seconds (user + system) a running process has used, from /proc/PID/stat.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}

# Runs a command and prints "user_s sys_s maxrss_kib wall_s" of it (and its threads)
# from wait4's rusage (microsecond resolution). The command's output goes to stderr.
rusage() {
    python3 - "$@" <<'PY'
import os, sys, time
t = time.monotonic()
pid = os.fork()
if pid == 0:
    os.dup2(2, 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(f"bench: {sys.argv[1]} exited with {os.waitstatus_to_exitcode(status)}")
print(f"{ru.ru_utime:.4f} {ru.ru_stime:.4f} {ru.ru_maxrss} {wall:.3f}")
PY
}

# Runs a command and prints "PEAK ANON FILE MAPPED" in KiB: PEAK is VmHWM from
# /proc/PID/status, read every 10 ms until the process exits (the last reading); ANON
# and FILE are RssAnon and RssFile at the reading where the peak was last raised;
# MAPPED is the resident part of the file $PEAK_MAPPED_FILE (a qemu-user guest's binary)
# at that reading, 0 when unset. Not wait4's ru_maxrss: Linux carries the pre-exec
# high-water mark of the forked runner into it. Readings taken before the exec (while
# /proc/PID/exe is still the shell) are skipped: they are the shell's. The command's
# output goes to stderr.
peak_rss_kib() {
    local pid hwm=0 anon=0 file=0 mapped=0 line exe
    exe=$(readlink -f "$(command -v "$1")")
    (exec "$@" >&2) &
    pid=$!
    while [[ -r /proc/$pid/status ]]; do
        if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) != "$exe" ]]; then
            sleep 0.001
            continue
        fi
        line=$(awk '/^VmHWM/ { h = $2 } /^RssAnon/ { a = $2 } /^RssFile/ { f = $2 }
                    END { if (h) print h, a, f }' "/proc/$pid/status" 2>/dev/null || true)
        if [[ -n $line ]] && ((${line%% *} > hwm)); then
            read -r hwm anon file <<<"$line"
            if [[ -n ${PEAK_MAPPED_FILE:-} ]]; then
                mapped=$(awk -v f="$PEAK_MAPPED_FILE" '/^[0-9a-f]+-/ { m = ($NF == f) } m && /^Rss:/ { s += $2 } END { print s + 0 }' \
                    "/proc/$pid/smaps" 2>/dev/null || echo "$mapped")
            fi
        fi
        sleep 0.01
    done
    wait "$pid" || bench_die "$1 exited with $?"
    echo "$hwm $anon $file $mapped"
}

# Starts a command in the background, output to LOG; its own pid (the subshell execs
# it) is in $bg_pid. Usage: start_bg LOG CMD ARGS...
start_bg() {
    local log=$1
    shift
    (exec "$@" >"$log" 2>&1) &
    bg_pid=$!
}

# Waits until 127.0.0.1:$1 accepts TCP connections (at most 10 s); if not, shows the
# log $2 (the server's output) and exits.
wait_tcp() {
    local i
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    [[ -n ${2:-} ]] && cat "$2" >&2
    bench_die "nothing listens on 127.0.0.1:$1"
}

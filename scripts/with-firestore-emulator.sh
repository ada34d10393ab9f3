#!/usr/bin/env bash
# Usage: scripts/with-firestore-emulator.sh CMD [ARG...]
#
# Starts the Firestore emulator on a free 127.0.0.1 port in its own process
# group, waits until it answers, runs CMD with FIRESTORE_EMULATOR_HOST set, then
# stops the whole group (gcloud leaves a Java child behind otherwise) and exits
# with CMD's status. Never skips: a missing gcloud or emulator is an error.
#
# Environment (optional):
#   FIRESTORE_EMULATOR_PORT           port to use instead of a free one
#   FIRESTORE_EMULATOR_START_TIMEOUT  seconds to wait for the emulator (default 60)
set -uo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARG...]" >&2
    exit 2
fi

say() { echo "with-firestore-emulator: $*" >&2; }

install_hint() {
    say "install it with: apt-get install google-cloud-cli google-cloud-cli-firestore-emulator"
    say "(from Google's Cloud SDK apt repository; a Java runtime, 11 or newer, is needed too)"
}

if ! command -v gcloud >/dev/null 2>&1; then
    say "error: gcloud not found on PATH; the Firestore emulator tests cannot run"
    install_hint
    exit 127
fi
if ! command -v java >/dev/null 2>&1; then
    say "error: java not found on PATH; the Firestore emulator needs a Java runtime"
    install_hint
    exit 127
fi

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    return 1
}

probe() {  # succeeds when the emulator answers "Ok" on /
    local body
    if command -v curl >/dev/null 2>&1; then
        body=$(curl -fsS --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null) || return 1
    else
        body=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 \
                 && timeout 2 cat <&3) 2>/dev/null) || return 1
    fi
    [[ "$body" == *Ok* ]]
}

PORT="${FIRESTORE_EMULATOR_PORT:-$(free_port)}" || { say "error: no free port found"; exit 1; }
TIMEOUT="${FIRESTORE_EMULATOR_START_TIMEOUT:-60}"
LOG="$(mktemp "${TMPDIR:-/tmp}/firestore-emulator.XXXXXX.log")"
PGID=""
EMULATOR_PID=""

stop_emulator() {
    [ -n "$PGID" ] && [ "$PGID" != "${OWN_PGID:-}" ] || return 0
    kill -TERM -- "-$PGID" 2>/dev/null
    for _ in $(seq 1 50); do  # up to 10 s for a clean stop
        kill -0 -- "-$PGID" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 -- "-$PGID" 2>/dev/null; then
        say "emulator did not stop; killing process group $PGID"
        kill -KILL -- "-$PGID" 2>/dev/null
    fi
    wait "$EMULATOR_PID" 2>/dev/null
    PGID=""
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    stop_emulator
    rm -f "$LOG"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

export CLOUDSDK_CORE_DISABLE_PROMPTS=1
export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1

# Job control is off in a script, so the background child is not a process
# group leader and setsid makes it one without forking: its pid is the new
# group's id. Checked below all the same.
OWN_PGID="$(ps -o pgid= -p $$ | tr -d ' ')"
setsid gcloud emulators firestore start --host-port="127.0.0.1:$PORT" >"$LOG" 2>&1 </dev/null &
EMULATOR_PID=$!
for _ in $(seq 1 100); do  # until setsid has run in the child
    if [ "$(ps -o pgid= -p "$EMULATOR_PID" 2>/dev/null | tr -d ' ')" = "$EMULATOR_PID" ]; then
        PGID="$EMULATOR_PID"
        break
    fi
    kill -0 "$EMULATOR_PID" 2>/dev/null || break
    sleep 0.02
done
if [ -z "$PGID" ] || [ "$PGID" = "$OWN_PGID" ]; then
    say "error: could not start the emulator in a process group of its own; its log:"
    sed 's/^/  | /' "$LOG" >&2
    kill "$EMULATOR_PID" 2>/dev/null
    PGID=""
    exit 1
fi

started=$SECONDS
until probe "$PORT"; do
    if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
        say "error: the Firestore emulator exited before it answered; its log:"
        sed 's/^/  | /' "$LOG" >&2
        if grep -qiE "component|not installed|cloud-firestore-emulator" "$LOG"; then
            install_hint
        fi
        exit 1
    fi
    if (( SECONDS - started >= TIMEOUT )); then
        say "error: the Firestore emulator did not answer on 127.0.0.1:$PORT within ${TIMEOUT}s; its log:"
        sed 's/^/  | /' "$LOG" >&2
        exit 1
    fi
    sleep 0.2
done
say "Firestore emulator ready on 127.0.0.1:$PORT after $((SECONDS - started))s (process group $PGID)"

export FIRESTORE_EMULATOR_HOST="127.0.0.1:$PORT"
"$@"
status=$?
exit "$status"

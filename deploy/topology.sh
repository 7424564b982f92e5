#!/usr/bin/env bash
# The production topology of tickerdesk on this machine, in one command:
#
#   relay -> venue-sim -> 2 workers -> 3 api replicas -> nginx (load balancer)
#
# against the local PostgreSQL, Redis and RabbitMQ (scripts/services.sh starts them).
#
#   deploy/topology.sh start     start everything (again: starts only what is missing)
#   deploy/topology.sh stop      stop everything, nginx first and the relay last
#   deploy/topology.sh status    each process, and /readyz of every replica and of nginx
#   deploy/topology.sh logs      follow every log
#   deploy/topology.sh restart   stop, then start
#
# Settings (environment; the defaults in brackets):
#   TICKERDESK_DATABASE_URL   [postgresql://postgres@127.0.0.1:5432/tickerdesk_local] created if missing
#   TICKERDESK_REDIS_URL      [redis://127.0.0.1:6379/0]
#   TICKERDESK_AMQP_URL       [amqp://guest:guest@127.0.0.1:5672/]
#   TICKERDESK_INSTANCE       [tickerdesk-local] prefix of broker names and Redis keys
#   TICKERDESK_DATA_DIR       [<repo>/.tickerdesk/topology] JWT secret; run/ holds pids, logs, nginx.conf
#   TICKERDESK_PRICE_WALK_SECONDS [1] venue-sim's random walk (0 = prices move only when told)
#   TICKERDESK_LOG_JSON       [true]
#   TICKERDESK_BIN            [<repo>/.venv/bin/tickerdesk]
#   API_PORTS                 [8101 8102 8103] one api replica per port (space or comma separated)
#   WORKER_COUNT              [2] `tickerdesk worker` processes (competing consumers)
#   NGINX_PORT                [8080]
#
# Every process runs in a session of its own (setsid), so `stop` can signal it together
# with anything it spawned, and closing the terminal that ran `start` does not kill it.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(dirname -- "$SCRIPT_DIR")
TEMPLATE="$SCRIPT_DIR/nginx.conf.template"
TICKERDESK_BIN=${TICKERDESK_BIN:-$REPO/.venv/bin/tickerdesk}
# The interpreter tickerdesk is installed in: it has asyncpg for creating the database.
PYTHON=${TICKERDESK_PYTHON:-$(dirname -- "$TICKERDESK_BIN")/python}

STOP_TIMEOUT=10     # seconds between SIGTERM and SIGKILL
RELAY_TIMEOUT=60    # the relay migrates the database before it logs `relay running`
READY_TIMEOUT=60    # per replica, and for nginx

# ---------------------------------------------------------------------------------------
# Small helpers

say() { printf 'topology: %s\n' "$*"; }
die() { printf 'topology: error: %s\n' "$*" >&2; exit 1; }

# An absolute path: relative ones are taken from the directory the command was run in.
absolute() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}

# The settings, with defaults. Exported: every process of the stack reads them.
configure() {
  export TICKERDESK_DATABASE_URL=${TICKERDESK_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/tickerdesk_local}
  export TICKERDESK_REDIS_URL=${TICKERDESK_REDIS_URL:-redis://127.0.0.1:6379/0}
  export TICKERDESK_AMQP_URL=${TICKERDESK_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
  export TICKERDESK_INSTANCE=${TICKERDESK_INSTANCE:-tickerdesk-local}
  TICKERDESK_DATA_DIR=$(absolute "${TICKERDESK_DATA_DIR:-$REPO/.tickerdesk/topology}")
  export TICKERDESK_DATA_DIR
  export TICKERDESK_PRICE_WALK_SECONDS=${TICKERDESK_PRICE_WALK_SECONDS:-1}
  export TICKERDESK_LOG_JSON=${TICKERDESK_LOG_JSON:-true}
  # A crash's traceback as plain text in the log files, not boxes drawn for a terminal.
  export TYPER_STANDARD_TRACEBACK=${TYPER_STANDARD_TRACEBACK:-1}
  API_PORTS=${API_PORTS:-8101 8102 8103}
  API_PORTS=${API_PORTS//,/ }
  WORKER_COUNT=${WORKER_COUNT:-2}
  NGINX_PORT=${NGINX_PORT:-8080}
  RUN_DIR="$TICKERDESK_DATA_DIR/run"
  ENV_FILE="$RUN_DIR/env"
  [[ $WORKER_COUNT =~ ^[0-9]+$ ]] || die "WORKER_COUNT must be a number, not '$WORKER_COUNT'"
  local port
  for port in $API_PORTS $NGINX_PORT; do
    [[ $port =~ ^[0-9]+$ ]] || die "ports must be numbers, not '$port'"
  done
}

# What `start` used, so that stop/status act on the same processes and ports even when
# run with a different environment (and so a person can `source` it for `tickerdesk`).
save_settings() {
  mkdir -p "$RUN_DIR"
  {
    echo "# written by deploy/topology.sh start; source it to talk to this stack"
    local name
    for name in TICKERDESK_DATABASE_URL TICKERDESK_REDIS_URL TICKERDESK_AMQP_URL TICKERDESK_INSTANCE \
                TICKERDESK_DATA_DIR TICKERDESK_PRICE_WALK_SECONDS TICKERDESK_LOG_JSON; do
      printf 'export %s=%q\n' "$name" "${!name}"
    done
    printf 'API_PORTS=%q\nWORKER_COUNT=%q\nNGINX_PORT=%q\n' "$API_PORTS" "$WORKER_COUNT" "$NGINX_PORT"
  } >"$ENV_FILE"
}

load_saved_settings() {
  if [[ -f $ENV_FILE ]]; then
    # shellcheck source=/dev/null
    source "$ENV_FILE"
  fi
}

# Every process of the stack, in start order.
process_names() {
  local i port
  echo relay
  echo venue-sim
  for ((i = 1; i <= WORKER_COUNT; i++)); do echo "worker-$i"; done
  for port in $API_PORTS; do echo "api-$port"; done
  echo nginx
}

pid_file() { printf '%s/pids/%s.pid\n' "$RUN_DIR" "$1"; }
log_file() { printf '%s/logs/%s.log\n' "$RUN_DIR" "$1"; }

pid_of() {
  local file
  file=$(pid_file "$1")
  [[ -f $file ]] || return 1
  cat -- "$file"
}

# Alive and still the program we started: a pid file that outlived a reboot may name
# some unrelated process by now, which we must neither report nor kill.
pid_alive() {
  local pid=$1 state
  kill -0 "$pid" 2>/dev/null || return 1
  # A zombie has exited already; it only waits for its parent to reap it.
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ $state != Z ]] || return 1
  if [[ -r /proc/$pid/cmdline ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq 'tickerdesk|nginx' || return 1
  fi
}

is_running() {
  local pid
  pid=$(pid_of "$1") || return 1
  [[ -n $pid ]] && pid_alive "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The HTTP status of a GET (000 when nothing answers).
http_status() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" || true
  else
    "$PYTHON" - "$1" <<'PY' 2>/dev/null || echo 000
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
except urllib.error.HTTPError as error:
    print(error.code)
PY
  fi
}

log_tail() {
  local file
  file=$(log_file "$1")
  echo "---- last lines of $file ----" >&2
  tail -n 30 -- "$file" >&2 2>/dev/null || true
  echo "----" >&2
}

# ---------------------------------------------------------------------------------------
# Preconditions

ensure_tickerdesk() {
  [[ -x $TICKERDESK_BIN ]] || die "$TICKERDESK_BIN not found: create the virtualenv (python3 -m venv .venv && .venv/bin/pip install -e '.[test]', as make does) or set TICKERDESK_BIN"
  [[ -f $TEMPLATE ]] || die "$TEMPLATE is missing"
}

# Debian keeps nginx in /usr/sbin, which is not on every user's PATH.
find_nginx() {
  NGINX=$(command -v nginx 2>/dev/null || true)
  if [[ -z $NGINX && -x /usr/sbin/nginx ]]; then NGINX=/usr/sbin/nginx; fi
  [[ -n $NGINX ]]
}

ensure_nginx() {
  find_nginx && return 0
  command -v apt-get >/dev/null 2>&1 ||
    die "nginx is not installed and there is no apt-get here: install nginx yourself and run this again"
  local -a as_root=()
  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      die "nginx is not installed and installing it needs root: run 'sudo apt-get install -y nginx', then this again"
    fi
  fi
  say "nginx is not installed; installing it with apt-get"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    die "apt-get update failed (no network?): install nginx yourself and run this again"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null ||
    die "apt-get install nginx failed: install nginx yourself and run this again"
  find_nginx || die "nginx was installed but cannot be found on PATH or in /usr/sbin"
  # The package may also have started the system service (port 80); we never use it.
}

# Create the database if it does not exist, and make sure Redis and RabbitMQ answer,
# so that a missing server is reported here in one clear line rather than as a
# traceback in some process's log.
prepare_servers() {
  if [[ -x $PYTHON ]] && "$PYTHON" -c 'import asyncpg' 2>/dev/null; then
    "$PYTHON" - <<'PY' || die "the servers are not ready (scripts/services.sh starts the local ones)"
import asyncio, os, socket, sys
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

def reachable(label, url, default_port):
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=3).close()
    except OSError as error:
        sys.exit(f"topology: error: {label} at {parts.hostname}:{parts.port or default_port} is not reachable: {error}")

async def create_database(url):
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    name = unquote(parts.path.lstrip("/"))
    if not name:
        sys.exit("topology: error: TICKERDESK_DATABASE_URL names no database")
    # Connect to the server's maintenance database to look for (and create) ours.
    server = urlunsplit(parts._replace(path="/postgres"))
    try:
        conn = await asyncpg.connect(server, timeout=5)
    except Exception as error:
        sys.exit(f"topology: error: cannot connect to PostgreSQL ({server}): {error}")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            try:
                await conn.execute('CREATE DATABASE "{}"'.format(name.replace('"', '""')))
                print(f"topology: created database {name}")
            except asyncpg.DuplicateDatabaseError:
                pass  # someone else made it in the meantime: just as good
    finally:
        await conn.close()

reachable("Redis", os.environ["TICKERDESK_REDIS_URL"], 6379)
reachable("RabbitMQ", os.environ["TICKERDESK_AMQP_URL"], 5672)
asyncio.run(create_database(os.environ["TICKERDESK_DATABASE_URL"]))
PY
  elif command -v psql >/dev/null 2>&1; then
    # No asyncpg at hand: psql against the same server, database `postgres`.
    local server=${TICKERDESK_DATABASE_URL%/*}/postgres name=${TICKERDESK_DATABASE_URL##*/}
    name=${name%%\?*}
    if [[ $(psql "$server" -Atc "SELECT 1 FROM pg_database WHERE datname = '$name'") != 1 ]]; then
      psql "$server" -qc "CREATE DATABASE \"$name\"" || die "could not create database $name"
      say "created database $name"
    fi
  else
    die "neither $PYTHON (with asyncpg) nor psql is available to create the database"
  fi
}

# Every api replica reads the JWT secret from the data directory and creates it when it
# is missing; three replicas starting at once could each create a different one. Make
# it once, up front, with tickerdesk's own code.
ensure_jwt_secret() {
  [[ -n ${TICKERDESK_JWT_SECRET:-} || -n ${TICKERDESK_JWT_PUBLIC_KEY:-} ]] && return 0
  [[ -s $TICKERDESK_DATA_DIR/jwt-secret ]] && return 0
  "$TICKERDESK_BIN" token topology >/dev/null || die "could not create the JWT secret in $TICKERDESK_DATA_DIR"
}

# ---------------------------------------------------------------------------------------
# Processes

STARTED=0  # whether the last start_process started something (1) or found it running (0)

# start_process NAME COMMAND...: run COMMAND in the background in a session of its own,
# output to logs/NAME.log, pid to pids/NAME.pid. Does nothing when NAME is running.
start_process() {
  local name=$1 log pid
  shift
  STARTED=0
  if is_running "$name"; then
    say "$name is already running (pid $(pid_of "$name"))"
    return 0
  fi
  log=$(log_file "$name")
  # Keep the previous run's log, but start a fresh one: waiting for a line in the log
  # must not be fooled by the same line from an earlier run.
  if [[ -f $log ]]; then mv -f -- "$log" "$log.1"; fi
  if command -v setsid >/dev/null 2>&1; then
    # The subshell is not a process-group leader, so setsid execs without forking:
    # $! is the program itself, and the leader of its own process group.
    (cd -- "$REPO" && exec setsid "$@" </dev/null >>"$log" 2>&1) &
  else
    (cd -- "$REPO" && exec "$@" </dev/null >>"$log" 2>&1) &
  fi
  pid=$!
  echo "$pid" >"$(pid_file "$name")"
  STARTED=1
  say "started $name (pid $pid), log: $log"
}

# signal_process PID SIGNAL: the whole process group when PID leads one (it does when
# setsid started it), else just PID.
signal_process() {
  local pid=$1 signal=$2
  if [[ $(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ') == "$pid" ]]; then
    kill "-$signal" -- "-$pid" 2>/dev/null || true
  else
    kill "-$signal" "$pid" 2>/dev/null || true
  fi
}

# stop_process NAME [SIGNAL]: SIGNAL (default TERM), up to STOP_TIMEOUT seconds for it
# to exit (processes finish in-flight work and acknowledge nothing unfinished), then KILL.
stop_process() {
  local name=$1 signal=${2:-TERM} pid i
  if ! pid=$(pid_of "$name"); then
    return 0
  fi
  if pid_alive "$pid"; then
    signal_process "$pid" "$signal"
    for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
      pid_alive "$pid" || break
      sleep 0.2
    done
    if pid_alive "$pid"; then
      say "$name (pid $pid) did not stop within ${STOP_TIMEOUT}s; killing it"
      signal_process "$pid" KILL
      sleep 0.2
    fi
    say "stopped $name"
  fi
  rm -f -- "$(pid_file "$name")"
}

# wait_for_log_line NAME TEXT TIMEOUT
wait_for_log_line() {
  local name=$1 text=$2 timeout=$3 deadline
  deadline=$((SECONDS + timeout))
  until grep -qF -- "$text" "$(log_file "$name")" 2>/dev/null; do
    if ! is_running "$name"; then
      log_tail "$name"
      die "$name exited before logging '$text' (fix the cause, then: $0 stop; $0 start)"
    fi
    if ((SECONDS >= deadline)); then
      log_tail "$name"
      die "$name did not log '$text' within ${timeout}s"
    fi
    sleep 0.3
  done
}

# wait_for_ready NAME URL TIMEOUT: until URL answers 200 (while NAME stays alive).
wait_for_ready() {
  local name=$1 url=$2 timeout=$3 deadline status=000
  deadline=$((SECONDS + timeout))
  while :; do
    status=$(http_status "$url")
    [[ $status == 200 ]] && return 0
    if ! is_running "$name"; then
      log_tail "$name"
      die "$name exited before $url was ready"
    fi
    if ((SECONDS >= deadline)); then
      log_tail "$name"
      die "$url did not answer 200 within ${timeout}s (last status: $status)"
    fi
    sleep 0.3
  done
}

# The nginx.conf for this run: the template with the run directory, port and replicas.
render_nginx_conf() {
  local upstreams="" port user_directive
  for port in $API_PORTS; do
    upstreams+="        server 127.0.0.1:${port} max_fails=3 fail_timeout=10s;"$'\n'
  done
  if ((EUID == 0)); then
    user_directive="user root;"
  else
    user_directive="# not root: nginx's workers run as $(id -un)"
  fi
  mkdir -p "$RUN_DIR"/tmp
  # Pure bash substitution: no sed escaping of paths, and the text is taken literally.
  local text line out=""
  text=$(<"$TEMPLATE")
  while IFS= read -r line || [[ -n $line ]]; do
    case $line in
      @UPSTREAMS@) out+=$upstreams ;;
      @USER_DIRECTIVE@) out+="$user_directive"$'\n' ;;
      *)
        line=${line//@RUN_DIR@/"$RUN_DIR"}  # quoted: a & in the path stays literal (bash 5.2)
        line=${line//@PORT@/"$NGINX_PORT"}
        out+="$line"$'\n'
        ;;
    esac
  done <<<"$text"
  printf '%s' "$out" >"$RUN_DIR/nginx.conf"
}

nginx_args() {
  printf '%s\n' -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/logs/nginx-error.log"
}

# ---------------------------------------------------------------------------------------
# Commands

cmd_start() {
  configure
  # Something still running from an earlier start: keep its settings, start what is missing.
  local name any_running=0
  if [[ -f $ENV_FILE ]]; then
    (
      load_saved_settings
      for name in $(process_names); do is_running "$name" && exit 0; done
      exit 1
    ) && any_running=1
  fi
  if ((any_running)); then
    load_saved_settings
    local all_running=1
    for name in $(process_names); do is_running "$name" || all_running=0; done
    if ((all_running)); then
      say "already running: http://127.0.0.1:$NGINX_PORT ($0 status for details)"
      return 0
    fi
    say "partly running: starting the missing processes with the settings in $ENV_FILE"
  fi

  ensure_tickerdesk
  ensure_nginx
  mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs" "$RUN_DIR/tmp"
  save_settings

  # Ports taken by something that is not ours would make a replica or nginx fail late.
  local port
  for port in $API_PORTS; do
    if ! is_running "api-$port" && port_in_use "$port"; then
      die "port $port is in use by another program (set API_PORTS to free ports)"
    fi
  done
  if ! is_running nginx && port_in_use "$NGINX_PORT"; then
    die "port $NGINX_PORT is in use by another program (set NGINX_PORT to a free port)"
  fi

  prepare_servers
  ensure_jwt_secret

  # The relay migrates the schema and seeds the instruments: nothing else may start
  # before it says it is running, or they would meet a database without tables.
  start_process relay "$TICKERDESK_BIN" relay
  if ((STARTED)); then wait_for_log_line relay "relay running" "$RELAY_TIMEOUT"; fi

  start_process venue-sim "$TICKERDESK_BIN" venue-sim
  local i
  for ((i = 1; i <= WORKER_COUNT; i++)); do
    start_process "worker-$i" "$TICKERDESK_BIN" worker
  done
  for port in $API_PORTS; do
    start_process "api-$port" "$TICKERDESK_BIN" api --host 127.0.0.1 --port "$port"
  done
  for port in $API_PORTS; do
    wait_for_ready "api-$port" "http://127.0.0.1:$port/readyz" "$READY_TIMEOUT"
    say "api-$port is ready"
  done
  # The venue and the consumers say when they are consuming; an order placed before
  # that would only wait in its queue, but a failure to start (a bad URL, say) would
  # otherwise go unnoticed until the first order never executes.
  wait_for_log_line venue-sim "venue-sim ready" "$READY_TIMEOUT"
  for ((i = 1; i <= WORKER_COUNT; i++)); do
    wait_for_log_line "worker-$i" "workers running" "$READY_TIMEOUT"
  done

  if ! is_running nginx; then
    render_nginx_conf
    local -a args
    mapfile -t args < <(nginx_args)
    # Check the rendered file first: a syntax error is clearer from `nginx -t` than from a dead process.
    "$NGINX" -t -q "${args[@]}" || die "nginx rejected $RUN_DIR/nginx.conf"
    start_process nginx "$NGINX" "${args[@]}"
  fi
  wait_for_ready nginx "http://127.0.0.1:$NGINX_PORT/readyz" "$READY_TIMEOUT"

  summary
}

summary() {
  local bin=$TICKERDESK_BIN script=$0
  # stop/status/logs find the stack through TICKERDESK_DATA_DIR: say so when it is not the default.
  if [[ $TICKERDESK_DATA_DIR != "$REPO/.tickerdesk/topology" ]]; then
    script="TICKERDESK_DATA_DIR=$TICKERDESK_DATA_DIR $0"
  fi
  cat <<EOF

tickerdesk is running behind nginx: http://127.0.0.1:$NGINX_PORT
  replicas:   $(for port in $API_PORTS; do printf 'http://127.0.0.1:%s ' "$port"; done)
  instance:   $TICKERDESK_INSTANCE (database $TICKERDESK_DATABASE_URL)
  a token:        TICKERDESK_DATA_DIR=$TICKERDESK_DATA_DIR $bin token alice
  an admin token: TICKERDESK_DATA_DIR=$TICKERDESK_DATA_DIR $bin token ops --admin
  the stack's environment: source $ENV_FILE
  logs:       $RUN_DIR/logs/   (follow them: $script logs)
  status:     $script status
  stop:       $script stop
EOF
}

cmd_stop() {
  configure
  load_saved_settings
  local name
  # nginx first, so no new request reaches a replica that is going away; the relay
  # last, so events committed by the last requests are still published. SIGQUIT is
  # nginx's graceful shutdown (the same as `nginx -s quit`).
  stop_process nginx QUIT
  for name in $(process_names | grep '^api-' || true); do stop_process "$name"; done
  for name in $(process_names | grep '^worker-' || true); do stop_process "$name"; done
  # Pid files of processes that the current settings do not name (WORKER_COUNT was
  # larger at start, say): stop those too.
  local file
  for file in "$RUN_DIR"/pids/*.pid; do
    [[ -e $file ]] || continue
    name=$(basename -- "$file" .pid)
    case $name in venue-sim | relay) ;; *) stop_process "$name" ;; esac
  done
  stop_process venue-sim
  stop_process relay
  say "stopped (logs remain in $RUN_DIR/logs)"
}

cmd_status() {
  configure
  load_saved_settings
  local name pid state rc=0
  printf '%-12s %-8s %s\n' PROCESS PID STATE
  for name in $(process_names); do
    pid=$(pid_of "$name" || true)
    if is_running "$name"; then state=running; else state=stopped; rc=3; fi
    printf '%-12s %-8s %s\n' "$name" "${pid:--}" "$state"
  done
  echo
  local port
  for port in $API_PORTS; do
    printf '%-40s %s\n' "http://127.0.0.1:$port/readyz" "$(http_status "http://127.0.0.1:$port/readyz")"
  done
  printf '%-40s %s\n' "http://127.0.0.1:$NGINX_PORT/readyz (nginx)" \
    "$(http_status "http://127.0.0.1:$NGINX_PORT/readyz")"
  return "$rc"
}

cmd_logs() {
  configure
  shopt -s nullglob
  local logs=("$RUN_DIR"/logs/*.log)
  ((${#logs[@]})) || die "no logs in $RUN_DIR/logs yet: run $0 start"
  exec tail -n 20 -F -- "${logs[@]}"
}

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

main() {
  case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    logs) cmd_logs ;;
    restart) cmd_stop && cmd_start ;;
    *) usage ;;
  esac
}

main "$@"

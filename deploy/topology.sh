#!/usr/bin/env bash
# The production topology of tickerdesk on this machine, its processes run by supervisord:
#   relay -> venue-sim -> 2 workers, notifications -> 3 api replicas -> nginx (load balancer)
# against the local PostgreSQL, Redis and RabbitMQ (scripts/services.sh starts them).
#
#   deploy/topology.sh start     start everything (again: starts only what is missing)
#   deploy/topology.sh stop      stop everything and supervisord, nginx first and the relay last
#   deploy/topology.sh status    each process, and /readyz of every replica and of nginx
#   deploy/topology.sh logs      follow every log
#   deploy/topology.sh restart   stop, then start
#
# Settings (environment; the defaults in brackets):
#   TICKERDESK_DATABASE_URL   [postgresql://postgres@127.0.0.1:5432/tickerdesk_local] created if missing
#   TICKERDESK_REDIS_URL      [redis://127.0.0.1:6379/0]
#   TICKERDESK_AMQP_URL       [amqp://guest:guest@127.0.0.1:5672/]
#   TICKERDESK_INSTANCE       [tickerdesk-local] prefix of broker names and Redis keys
#   TICKERDESK_DATA_DIR       [<repo>/.tickerdesk/topology] JWT secret; run/: supervisord.conf, nginx.conf, env, logs/
#   TICKERDESK_PRICE_WALK_SECONDS [1] venue-sim's random walk (0 = prices move only when told)
#   TICKERDESK_LOG_JSON       [true]
#   TICKERDESK_HISTORY_STORE  [postgres] dynamodb: the history in a DynamoDB-API table (docs/history-store.md); with
#                             no TICKERDESK_HISTORY_DYNAMODB_ENDPOINT, dynalite is started (data in run/dynalite/)
#   TICKERDESK_BIN            [<repo>/.venv/bin/tickerdesk] supervisord and python are taken from beside it
#   API_PORTS                 [8101 8102 8103] one api replica per port (space or comma separated)
#   WORKER_COUNT              [2] `tickerdesk worker` processes (competing consumers)
#   NGINX_PORT                [8080]
# The programs: deploy/supervisord.conf (rendered into run/; supervisorctl -c run/supervisord.conf works too).
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P) && REPO=${HERE%/*}
export TICKERDESK_BIN=${TICKERDESK_BIN:-$REPO/.venv/bin/tickerdesk} && PATH=$(dirname -- "$TICKERDESK_BIN"):$PATH
export TICKERDESK_DATABASE_URL=${TICKERDESK_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/tickerdesk_local}
export TICKERDESK_REDIS_URL=${TICKERDESK_REDIS_URL:-redis://127.0.0.1:6379/0}
export TICKERDESK_AMQP_URL=${TICKERDESK_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
export TICKERDESK_INSTANCE=${TICKERDESK_INSTANCE:-tickerdesk-local}
export TICKERDESK_DATA_DIR=${TICKERDESK_DATA_DIR:-$REPO/.tickerdesk/topology}
[[ $TICKERDESK_DATA_DIR == /* ]] || TICKERDESK_DATA_DIR=$PWD/$TICKERDESK_DATA_DIR
export TICKERDESK_PRICE_WALK_SECONDS=${TICKERDESK_PRICE_WALK_SECONDS:-1} TICKERDESK_LOG_JSON=${TICKERDESK_LOG_JSON:-true}
export TYPER_STANDARD_TRACEBACK=${TYPER_STANDARD_TRACEBACK:-1}  # a crash's traceback as plain text in the logs
API_PORTS=${API_PORTS:-8101 8102 8103} WORKER_COUNT=${WORKER_COUNT:-2} NGINX_PORT=${NGINX_PORT:-8080}
RUN_DIR=$TICKERDESK_DATA_DIR/run && CONF=$TICKERDESK_DATA_DIR/run/supervisord.conf && API_PORTS=${API_PORTS//,/ }
declare -A MARK  # program -> size of its log when we started it: its readiness line comes after that

say() { printf 'topology: %s\n' "$*"; }
dynalite() { DYNALITE_DIR=$RUN_DIR/dynalite DYNALITE_PATH=$RUN_DIR/dynalite/data "$REPO/scripts/dynalite.sh" "$@"; }
die() { printf 'topology: error: %s\n' "$*" >&2; exit 1; }
ctl() { supervisorctl -c "$CONF" "$@"; }
up() { [[ -f $CONF ]] && ctl pid >/dev/null 2>&1; }
running() { [[ $(ctl status "$1" 2>/dev/null) == *RUNNING* ]]; }
log_of() { printf '%s/logs/%s.log' "$RUN_DIR" "${1#*:}"; }
logged() { [[ -z ${MARK[$1]+x} || $(tail -c "+$((MARK[$1] + 1))" "$(log_of "$1")" 2>/dev/null) == *"$2"* ]]; }
http_status() {  # of a GET; 000 when nothing answers
  if command -v curl >/dev/null; then curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" || true; return; fi
  python -c 'import sys, urllib.error as e, urllib.request as r
try: print(r.urlopen(sys.argv[1], timeout=3).status)
except e.HTTPError as error: print(error.code)' "$1" 2>/dev/null || echo 000
}
ready() { [[ $(http_status "$1") == 200 ]]; }
launch() {  # PROGRAM...: start those not running
  local name todo=()
  for name; do running "$name" || { MARK[$name]=$(stat -c %s "$(log_of "$name")" 2>/dev/null || echo 0); todo+=("$name"); }; done
  ((${#todo[@]} == 0)) || ctl start "${todo[@]}" || true  # a failure to start: the wait after it shows the log
}
await() {  # PROGRAM CHECK...: until CHECK succeeds, while PROGRAM runs, for 60 s at most
  local name=$1 deadline=$((SECONDS + 60)) && shift
  until "$@"; do
    if ! running "$name" || ((SECONDS >= deadline)); then
      tail -n 30 "$(log_of "$name")" >&2 || true
      die "$name is not ready, no ${*: -1} (its log is above; fix the cause, then: $0 restart)"
    fi
    sleep 0.3
  done
}

render() {  # supervisord.conf with the api section once per port; nginx.conf exactly as before
  local text api line out="" upstreams="" port user="# not root: nginx's workers run as $(id -un)"
  text=$(<"$HERE/supervisord.conf")
  api=${text#"${text%%$'\n[program:api-@PORT@]'*}"}  # from that section to the end
  { printf '%s' "${text%"$api"}"; for port in $API_PORTS; do printf '%s\n' "${api//@PORT@/$port}"; done; } >"$CONF"
  for port in $API_PORTS; do upstreams+="        server 127.0.0.1:${port} max_fails=3 fail_timeout=10s;"$'\n'; done
  ((EUID != 0)) || user="user root;"
  while IFS= read -r line || [[ -n $line ]]; do
    case $line in
      @UPSTREAMS@) out+=$upstreams ;;
      @USER_DIRECTIVE@) out+="$user"$'\n' ;;
      *) line=${line//@RUN_DIR@/"$RUN_DIR"} && out+="${line//@PORT@/"$NGINX_PORT"}"$'\n' ;;
    esac
  done <<<"$(<"$HERE/nginx.conf.template")"
  printf '%s' "$out" >"$RUN_DIR/nginx.conf"
}

prepare() {  # nginx (apt-get installs it), free ports, the servers and the database, one JWT secret
  [[ -x $TICKERDESK_BIN ]] && command -v supervisord >/dev/null || die "no $TICKERDESK_BIN or no supervisord beside it: run make topology"
  [[ "$WORKER_COUNT $API_PORTS $NGINX_PORT" =~ ^[0-9\ ]+$ ]] || die "WORKER_COUNT and the ports must be numbers"
  local sudo=() port
  ((EUID == 0)) || sudo=(sudo -n)
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)  # Debian's /usr/sbin is not on every PATH
  if [[ ! -x $NGINX ]]; then
    say "nginx is not installed; installing it with apt-get"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq nginx >/dev/null || die "could not install nginx (needs root or sudo, and apt-get): install it, then run this again"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  fi
  for port in $API_PORTS $NGINX_PORT; do
    ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "port $port is in use by another program (set API_PORTS / NGINX_PORT)"
  done
  "${TICKERDESK_PYTHON:-python}" "$HERE/prepare_servers.py" || die "the servers are not ready (scripts/services.sh starts the local ones)"
  if [[ ${TICKERDESK_HISTORY_STORE:-} == dynamodb && -z ${TICKERDESK_HISTORY_DYNAMODB_ENDPOINT:-} ]]; then
    export TICKERDESK_HISTORY_DYNAMODB_ENDPOINT && mkdir -p "$RUN_DIR/dynalite/data"
    TICKERDESK_HISTORY_DYNAMODB_ENDPOINT=$(dynalite start) || die "dynalite did not start (scripts/dynalite.sh)"
  fi
  # One JWT secret, made here before the replicas start (three making it at once could make three);
  # `tickerdesk token` only reads it, so `tickerdesk token alice --data-dir ...` signs what they accept.
  if [[ -z ${TICKERDESK_JWT_SECRET:-}${TICKERDESK_JWT_PUBLIC_KEY:-} && ! -s $TICKERDESK_DATA_DIR/jwt-secret ]]; then
    mkdir -p "$TICKERDESK_DATA_DIR" &&
      (umask 077 && "${TICKERDESK_PYTHON:-python}" -c 'import secrets; print(secrets.token_urlsafe(48))' \
        >"$TICKERDESK_DATA_DIR/jwt-secret") || die "could not create the JWT secret in $TICKERDESK_DATA_DIR"
  fi
}

cmd_start() {
  local name port i workers=() apis=()
  if up; then
    say "supervisord is running ($CONF): starting what is missing, with the settings in $RUN_DIR/env"
  else
    prepare
    mkdir -p "$RUN_DIR/logs" "$RUN_DIR/tmp"
    render
    for name in TICKERDESK_DATABASE_URL TICKERDESK_REDIS_URL TICKERDESK_AMQP_URL TICKERDESK_INSTANCE TICKERDESK_DATA_DIR \
      TICKERDESK_PRICE_WALK_SECONDS TICKERDESK_LOG_JSON TICKERDESK_HISTORY_STORE TICKERDESK_HISTORY_DYNAMODB_ENDPOINT; do
      [[ -z ${!name+x} ]] || printf 'export %s=%q\n' "$name" "${!name}"; done >"$RUN_DIR/env"
    printf 'API_PORTS=%q\nWORKER_COUNT=%q\nNGINX_PORT=%q\n' "$API_PORTS" "$WORKER_COUNT" "$NGINX_PORT" >>"$RUN_DIR/env"
    "$NGINX" -t -q -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -e "$RUN_DIR/logs/nginx-error.log" || die "nginx rejected $RUN_DIR/nginx.conf"
    name=$(printf 'api-%s,' $API_PORTS)
    (cd -- "$REPO" && NGINX=$NGINX WORKER_COUNT=$WORKER_COUNT API_PROGRAMS=${name%,} exec supervisord -c "$CONF")
  fi
  for ((i = 1; i <= WORKER_COUNT; i++)); do workers+=("worker:worker-$i"); done
  for port in $API_PORTS; do apis+=("api:api-$port"); done
  # The relay migrates the schema and seeds the instruments: the rest waits until it runs.
  launch relay
  await relay logged relay "relay running"
  launch venue-sim "${workers[@]}" notifications "${apis[@]}"
  for port in $API_PORTS; do await "api:api-$port" ready "http://127.0.0.1:$port/readyz"; done
  await venue-sim logged venue-sim "venue-sim ready"
  for name in "${workers[@]}" notifications; do await "$name" logged "$name" "workers running"; done
  launch nginx
  await nginx ready "http://127.0.0.1:$NGINX_PORT/readyz"
  printf '\ntickerdesk is running behind nginx: http://127.0.0.1:%s (replicas on %s)\n' "$NGINX_PORT" "$API_PORTS"
  printf '  a token: %s token alice --data-dir %s (--admin: an admin one)\n' "$TICKERDESK_BIN" "$TICKERDESK_DATA_DIR"
  printf '  logs: %s/logs/; its environment: source %s/env; supervisorctl -c %s\n' "$RUN_DIR" "$RUN_DIR" "$CONF"
}

cmd_stop() {  # supervisord stops the highest priority first: nginx, the api, workers, venue-sim, the relay
  local pid deadline=$((SECONDS + 120))
  up || { say "not running"; return 0; }
  pid=$(ctl pid)
  ctl shutdown >/dev/null
  while kill -0 "$pid" 2>/dev/null; do ((SECONDS < deadline)) || die "supervisord (pid $pid) is still stopping"; sleep 0.3; done
  dynalite stop  # if start started one
  say "stopped (logs remain in $RUN_DIR/logs)"
}

cmd_status() {
  local rc=0 port
  if up; then ctl status || rc=$?; else say "not running (no supervisord for $CONF)" && rc=3; fi
  echo
  for port in $API_PORTS; do printf '%-40s %s\n' "http://127.0.0.1:$port/readyz" "$(http_status "http://127.0.0.1:$port/readyz")"; done
  printf '%-40s %s\n' "http://127.0.0.1:$NGINX_PORT/readyz (nginx)" "$(http_status "http://127.0.0.1:$NGINX_PORT/readyz")"
  return "$rc"
}

# What `start` used: stop and status act on it, and so does start while supervisord runs.
saved() { [[ ! -f $RUN_DIR/env ]] || source "$RUN_DIR/env"; }
case ${1:-} in
  start) if up; then saved; fi; cmd_start ;;
  stop | status | restart) saved ;;&
  stop) cmd_stop ;;
  status) cmd_status ;;
  logs) exec tail -n 20 -F -- "$RUN_DIR"/logs/*.log ;;
  restart) cmd_stop; cmd_start ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' && exit 2 ;;
esac

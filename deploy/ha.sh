#!/usr/bin/env bash
# tickerdesk's high-availability topology on this machine (`make ha`, `make ha-stop`), under supervisord:
#   Redis: a primary and a replica, three sentinels (master name "tickerdesk")
#   RabbitMQ: a three-node cluster (tdha1..3@localhost), quorum queues on all three
#   PostgreSQL: pg_auto_failover, a monitor, a primary and a synchronous standby
#   then the tickerdesk processes (deploy/topology.sh: relay, venue-sim, workers, api replicas, nginx) on them.
# In production each numbered server is on a machine of its own (README, "High availability").
#
#   deploy/ha.sh start      the servers, then tickerdesk on them (again: starts only what is missing)
#   deploy/ha.sh servers    the servers only (the chaos tests start their own tickerdesk processes)
#   deploy/ha.sh stop       tickerdesk, then every server and supervisord
#   deploy/ha.sh status     each server, who is primary, and tickerdesk's status
#   deploy/ha.sh env        the TICKERDESK_* settings that reach these servers (eval "$(deploy/ha.sh env)")
#
# Settings (environment; defaults in brackets): HA_DIR [<repo>/.tickerdesk/ha] data, logs (run/logs/), configs;
# HA_PORT_OFFSET [0] added to every port below; Redis 6390/6391, sentinels 26390-26392; RabbitMQ AMQP 5681-5683,
# distribution 25681-25683; PostgreSQL monitor 6010, nodes 6011/6012; tickerdesk: API_PORTS [8201 8202 8203],
# NGINX_PORT [8280], TICKERDESK_INSTANCE [tickerdesk-ha]. Erlang runs small: RABBITMQ_ERL_ARGS [+S 1:1 +A 8 ...].
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P) && REPO=${HERE%/*}
export HA_DIR=${HA_DIR:-$REPO/.tickerdesk/ha} HA_BIN=$HERE
[[ $HA_DIR == /* ]] || HA_DIR=$PWD/$HA_DIR
O=${HA_PORT_OFFSET:-0}
REDIS_PORTS=($((6390 + O)) $((6391 + O))) SENTINEL_PORTS=($((26390 + O)) $((26391 + O)) $((26392 + O)))
AMQP_PORTS=($((5681 + O)) $((5682 + O)) $((5683 + O))) DIST_PORTS=($((25681 + O)) $((25682 + O)) $((25683 + O)))
PG_MONITOR_PORT=$((6010 + O)) PG_PORTS=($((6011 + O)) $((6012 + O)))
MASTER=tickerdesk RUN=$HA_DIR/run CONF=$HA_DIR/run/ha-supervisord.conf
PGBIN=/usr/lib/postgresql/15/bin RABBIT=/usr/lib/rabbitmq/bin
RABBITMQ_ERL_ARGS=${RABBITMQ_ERL_ARGS:-+S 1:1 +A 8 +MBas ageffcbf +MHas ageffcbf +MBlmbcs 512 +MHlmbcs 512 +MMmcs 30}
export TICKERDESK_BIN=${TICKERDESK_BIN:-$REPO/.venv/bin/tickerdesk}
PATH=$(dirname -- "$TICKERDESK_BIN"):$PATH

say() { printf 'ha: %s\n' "$*"; }
die() { printf 'ha: error: %s\n' "$*" >&2; exit 1; }
ctl() { supervisorctl -c "$CONF" "$@"; }
up() { [[ -f $CONF ]] && ctl pid >/dev/null 2>&1; }
running() { [[ $(ctl status "$1" 2>/dev/null) == *RUNNING* ]]; }
launch() { local p; for p; do running "$p" || ctl start "$p" >/dev/null || true; done; }
wait_for() {  # SECONDS WHAT COMMAND...: until COMMAND succeeds
  local deadline=$((SECONDS + $1)) what=$2 && shift 2
  until "$@" >/dev/null 2>&1; do ((SECONDS < deadline)) || die "$what did not come up (logs: $RUN/logs/)"; sleep 0.5; done
}
rabbitctl() { HOME=$HA_DIR/rabbit-home "$RABBIT/rabbitmqctl" -n "tdha$1@localhost" "${@:2}"; }

env_lines() {
  local amqp=() s=() p
  for p in "${AMQP_PORTS[@]}"; do amqp+=("amqp://guest:guest@127.0.0.1:$p/"); done
  for p in "${SENTINEL_PORTS[@]}"; do s+=("127.0.0.1:$p"); done
  printf 'export TICKERDESK_DATABASE_URL=%q\n' \
    "postgresql://postgres@127.0.0.1:${PG_PORTS[0]},127.0.0.1:${PG_PORTS[1]}/tickerdesk?target_session_attrs=read-write"
  printf 'export TICKERDESK_REDIS_URL=%q\n' "redis://127.0.0.1:${REDIS_PORTS[0]}/0"
  printf 'export TICKERDESK_REDIS_SENTINELS=%q TICKERDESK_REDIS_MASTER_NAME=%q\n' "$(IFS=,; echo "${s[*]}")" "$MASTER"
  printf 'export TICKERDESK_AMQP_URL=%q TICKERDESK_AMQP_URLS=%q\n' "${amqp[0]}" "$(IFS=,; echo "${amqp[*]}")"
}

install_missing() {  # Debian's packages, where missing
  local want=()
  command -v redis-server >/dev/null || want+=(redis-server)
  command -v redis-sentinel >/dev/null || want+=(redis-sentinel)
  [[ -x $RABBIT/rabbitmq-server ]] || want+=(rabbitmq-server)
  [[ -x $PGBIN/postgres ]] || want+=(postgresql-15)
  command -v pg_autoctl >/dev/null || want+=(postgresql-15-auto-failover pg-auto-failover-cli)
  ((${#want[@]} == 0)) && return
  say "installing ${want[*]} with apt-get"
  local sudo=() && ((EUID == 0)) || sudo=(sudo -n)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null ||
    die "could not install ${want[*]} (needs root or sudo): install them, then run this again"
}

render() {  # once: Redis and Sentinel rewrite their own files after a failover
  local i port
  mkdir -p "$RUN/logs" "$HA_DIR/rabbit-home" "$HA_DIR/pg"
  for i in 1 2; do
    port=${REDIS_PORTS[i - 1]} && mkdir -p "$HA_DIR/redis-$i"
    [[ -f $HA_DIR/redis-$i/redis.conf ]] || {
      printf 'port %s\nbind 127.0.0.1\nprotected-mode no\ndir %s\nappendonly yes\nappendfsync everysec\n' \
        "$port" "$HA_DIR/redis-$i"
      printf 'maxmemory 128mb\nsave ""\ndaemonize no\nreplica-announce-ip 127.0.0.1\n'
      ((i == 1)) || printf 'replicaof 127.0.0.1 %s\n' "${REDIS_PORTS[0]}"
    } >"$HA_DIR/redis-$i/redis.conf"
  done
  for i in 1 2 3; do
    port=${SENTINEL_PORTS[i - 1]} && mkdir -p "$HA_DIR/sentinel-$i"
    [[ -f $HA_DIR/sentinel-$i/sentinel.conf ]] || {
      printf 'port %s\nbind 127.0.0.1\nprotected-mode no\ndir %s\ndaemonize no\nsentinel announce-ip 127.0.0.1\n' \
        "$port" "$HA_DIR/sentinel-$i"
      printf 'sentinel monitor %s 127.0.0.1 %s 2\n' "$MASTER" "${REDIS_PORTS[0]}"
      printf 'sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n' "$MASTER" "$MASTER"
      printf 'sentinel parallel-syncs %s 1\n' "$MASTER"
    } >"$HA_DIR/sentinel-$i/sentinel.conf"
  done
  [[ -f $HA_DIR/rabbit-home/.erlang.cookie ]] || {
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$HA_DIR/rabbit-home/.erlang.cookie"
    chmod 400 "$HA_DIR/rabbit-home/.erlang.cookie"
  }
  printf '[].\n' >"$HA_DIR/rabbit-home/enabled_plugins"  # no management plugin: less memory, no port 15672
  : >"$HA_DIR/rabbit-home/rabbitmq-env.conf"
  chown -R postgres:postgres "$HA_DIR/pg"
  cp "$HERE/ha-supervisord.conf" "$CONF"
}

cmd_rabbit_node() {  # N: run RabbitMQ node N in the foreground (supervisord's program rabbit-N)
  local n=$1 dir=$HA_DIR/rabbit-$1
  mkdir -p "$dir/mnesia" "$dir/log"
  printf 'listeners.tcp.local = 127.0.0.1:%s\nloopback_users.guest = true\n' "${AMQP_PORTS[n - 1]}" >"$dir/rabbitmq.conf"
  # Quorum queues hold their Raft log in memory until the write-ahead log rolls over (512 MB by default): above
  # the memory watermark a node blocks every publisher of the cluster (confirms stop; the outbox waits). A WAL
  # of 64 MB rolls long before a 768 MB watermark, so a node that took over the others' queues stays below it.
  printf 'vm_memory_high_watermark.absolute = 768MB\ndisk_free_limit.absolute = 50MB\n' >>"$dir/rabbitmq.conf"
  printf 'raft.wal_max_size_bytes = 67108864\n' >>"$dir/rabbitmq.conf"
  export HOME=$HA_DIR/rabbit-home RABBITMQ_NODENAME=tdha$n@localhost RABBITMQ_DIST_PORT=${DIST_PORTS[n - 1]}
  export RABBITMQ_NODE_PORT=${AMQP_PORTS[n - 1]} RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log
  export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf RABBITMQ_CONF_ENV_FILE=$HOME/rabbitmq-env.conf RABBITMQ_LOGS=-
  export RABBITMQ_ENABLED_PLUGINS_FILE=$HOME/enabled_plugins RABBITMQ_PID_FILE=$dir/pid ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$RABBITMQ_ERL_ARGS -kernel inet_dist_use_interface {127,0,0,1}"
  exec "$RABBIT/rabbitmq-server"
}

cmd_pg_node() {  # monitor|1|2: run that pg_auto_failover node in the foreground, as postgres
  local name=$1 dir=$HA_DIR/pg/$1
  export PATH=$PGBIN:$PATH PG_CONFIG=$PGBIN/pg_config XDG_CONFIG_HOME=$dir/config XDG_DATA_HOME=$dir/share
  ((EUID != 0)) || exec runuser -u postgres -- "$0" pg-node "$name"  # never root: pg_autoctl refuses it
  mkdir -p "$dir"
  [[ ! -f $dir/created ]] || exec pg_autoctl run --pgdata "$dir/data"
  touch "$dir/created"
  if [[ $name == monitor ]]; then
    exec pg_autoctl create monitor --pgdata "$dir/data" --pgport "$PG_MONITOR_PORT" --hostname 127.0.0.1 \
      --auth trust --no-ssl --run
  fi
  exec pg_autoctl create postgres --pgdata "$dir/data" --pgport "${PG_PORTS[name - 1]}" --hostname 127.0.0.1 \
    --name "node$name" --auth trust --no-ssl --dbname tickerdesk --replication-quorum true \
    --monitor "postgres://autoctl_node@127.0.0.1:$PG_MONITOR_PORT/pg_auto_failover?sslmode=disable" --run
}

pg_state() { runuser -u postgres -- env PATH="$PGBIN:$PATH" XDG_CONFIG_HOME="$HA_DIR/pg/monitor/config" \
  XDG_DATA_HOME="$HA_DIR/pg/monitor/share" pg_autoctl show state --pgdata "$HA_DIR/pg/monitor/data" 2>/dev/null; }
pg_keeper_config() {  # N KEY VALUE: a setting of node N's keeper (a running keeper reloads it)
  runuser -u postgres -- env PATH="$PGBIN:$PATH" XDG_CONFIG_HOME="$HA_DIR/pg/$1/config" \
    XDG_DATA_HOME="$HA_DIR/pg/$1/share" pg_autoctl config set --pgdata "$HA_DIR/pg/$1/data" "$2" "$3" >/dev/null
}
pg_states() { pg_state | tr -s ' '; }  # "... | <reported> | <assigned>" a line per node
pg_settled() { local s && s=$(pg_states) && [[ $s == *"| primary | primary"* && $s == *"| secondary | secondary"* ]]; }
pg_leading() { local s && s=$(pg_states) && [[ $s == *"| single | single"* || $s == *"| primary | "* || $s == *"| wait_primary | "* ]]; }
pg_settled_soon() {  # pg_settled; meanwhile ask for an immediate checkpoint: a standby's base backup waits for a
  # spread one otherwise (about 90 s on a new cluster), and an immediate request hurries one in progress
  pg_settled && return
  local port && for port in "${PG_PORTS[@]}"; do
    runuser -u postgres -- psql -qX -h 127.0.0.1 -p "$port" -d postgres -c CHECKPOINT >/dev/null 2>&1 || true
  done
  return 1
}
sentinel_ready() { [[ $(redis-cli -p "${SENTINEL_PORTS[0]}" sentinel replicas "$MASTER" 2>/dev/null) == *"flags"*"slave"* ]]; }
clustered() { [[ $(rabbitctl 1 cluster_status --formatter json 2>/dev/null) == *tdha1*tdha2*tdha3* ]] &&
  (($(rabbitctl 1 cluster_status --formatter json | python3 -c \
    'import json,sys; print(len(json.load(sys.stdin)["running_nodes"]))') == 3)); }

cmd_servers() {
  # One start at a time: `make test` starts the servers in the background while pytest runs,
  # and `make chaos` then waits here for that start to finish instead of racing it.
  mkdir -p "$HA_DIR" && exec 9>"$HA_DIR/.servers.lock" && flock 9
  install_missing
  command -v supervisord >/dev/null || die "no supervisord beside $TICKERDESK_BIN: run make ha"
  if ! up; then
    render
    (cd -- "$HA_DIR" && supervisord -c "$CONF" 9>&-)  # the lock is ours, not the servers' to hold on to
  fi
  launch redis-1 redis-2
  wait_for 20 "Redis" redis-cli -p "${REDIS_PORTS[0]}" ping
  launch sentinel-1 sentinel-2 sentinel-3
  launch rabbit-1 rabbit-2 rabbit-3
  launch pg-monitor
  wait_for 60 "the pg_auto_failover monitor" "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_MONITOR_PORT"
  # Failover in seconds, not the default half minute: health checks every second, a node unhealthy after 3 s,
  # and the standby promoted 4 s after the primary stopped answering (the monitor waits that long for it to
  # demote itself; each keeper demotes a primary that can reach neither monitor nor standby after 3 s, below).
  psql -qX -h 127.0.0.1 -p "$PG_MONITOR_PORT" -U autoctl_node pg_auto_failover -c 'SELECT 1' >/dev/null 2>&1 || true
  runuser -u postgres -- psql -qX -p "$PG_MONITOR_PORT" -h 127.0.0.1 pg_auto_failover >/dev/null <<'SQL' || true
ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000;
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 4000;
SELECT pg_reload_conf();
SQL
  launch pg-1
  wait_for 120 "the first PostgreSQL node" pg_leading
  launch pg-2
  local n
  for n in 1 2 3; do wait_for 120 "RabbitMQ node $n" rabbitctl "$n" await_startup --timeout 5; done
  for n in 2 3; do
    if [[ $(rabbitctl 1 cluster_status --formatter json 2>/dev/null) != *tdha$n@localhost* ]]; then
      rabbitctl "$n" stop_app >/dev/null && rabbitctl "$n" join_cluster tdha1@localhost >/dev/null &&
        rabbitctl "$n" start_app >/dev/null || die "RabbitMQ node $n could not join the cluster"
    fi
  done
  wait_for 60 "the RabbitMQ cluster" clustered
  wait_for 30 "Sentinel" sentinel_ready
  wait_for 180 "the PostgreSQL standby" pg_settled_soon
  for n in 1 2; do pg_keeper_config "$n" timeout.network_partition_timeout 3; done
  exec 9>&-  # the lock released: what runs next (the topology, tests) neither holds nor waits for it
  say "servers ready: Redis ${REDIS_PORTS[*]} (sentinels ${SENTINEL_PORTS[*]}), RabbitMQ ${AMQP_PORTS[*]}," \
    "PostgreSQL ${PG_PORTS[*]} (monitor $PG_MONITOR_PORT); settings: eval \"\$($0 env)\""
}

topology() {  # the tickerdesk processes on these servers: deploy/topology.sh with its own data dir and ports
  eval "$(env_lines)"
  local secret=$HA_DIR/topology/jwt-secret  # one for every replica, made before any starts
  [[ -n ${TICKERDESK_JWT_SECRET:-} || -s $secret ]] || { mkdir -p "${secret%/*}" && (umask 077 &&
    python3 -c 'import secrets; print(secrets.token_urlsafe(48))' >"$secret"); }
  TICKERDESK_DATA_DIR=$HA_DIR/topology TICKERDESK_INSTANCE=${TICKERDESK_INSTANCE:-tickerdesk-ha} \
    API_PORTS=${API_PORTS:-8201 8202 8203} NGINX_PORT=${NGINX_PORT:-8280} "$HERE/topology.sh" "$@"
}

cmd_stop() {
  [[ ! -d $HA_DIR ]] || { exec 9>"$HA_DIR/.servers.lock" && flock 9; }  # after a start under way
  topology stop || true
  up || { say "servers not running"; return 0; }
  local pid && pid=$(ctl pid)
  ctl stop pg-2 pg-1 >/dev/null 2>&1 || true  # the standby first: the primary then stops alone, no failover
  ctl shutdown >/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.3; done
  say "stopped (data and logs remain in $HA_DIR)"
}

cmd_status() {
  up && ctl status || say "servers not running"
  printf '\nRedis primary (Sentinel): %s\n' "$(redis-cli -p "${SENTINEL_PORTS[0]}" sentinel get-master-addr-by-name \
    "$MASTER" 2>/dev/null | paste -sd: || echo '?')"
  printf 'PostgreSQL:\n%s\n\n' "$(pg_state || echo '  (monitor down)')"
  topology status || true
}

case ${1:-} in
  start) cmd_servers && topology start ;;
  servers) cmd_servers ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) env_lines ;;
  rabbit-node) cmd_rabbit_node "$2" ;;
  pg-node) cmd_pg_node "$2" ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' && exit 2 ;;
esac

#!/usr/bin/env bash
# dynalite: a DynamoDB API server (in memory unless given a path) for the DynamoDB history
# store (TICKERDESK_HISTORY_STORE=dynamodb) on this machine: tests, `tickerdesk up`, the topology.
# Installed from deploy/dynalite/package-lock.json by `npm ci` (node and npm needed).
#
#   scripts/dynalite.sh install   npm ci, unless node_modules already holds what the lock file says
#   scripts/dynalite.sh start     start it in the background on DYNALITE_PORT, wait until it answers,
#                                 print the endpoint (for TICKERDESK_HISTORY_DYNAMODB_ENDPOINT)
#   scripts/dynalite.sh stop      stop the one `start` started
#   scripts/dynalite.sh run ARGS  run it in the foreground (what the test fixture and supervisord use)
#
# Settings: DYNALITE_PORT [4567], DYNALITE_DIR [<repo>/.tickerdesk/dynalite] (pid file, log),
# DYNALITE_PATH [unset: in memory; a directory: LevelDB files there, kept across restarts].
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P) && REPO=${HERE%/*}
PKG=$REPO/deploy/dynalite
PORT=${DYNALITE_PORT:-4567}
DIR=${DYNALITE_DIR:-$REPO/.tickerdesk/dynalite}
STAMP=$PKG/node_modules/.installed-lock.json

die() { printf 'dynalite: error: %s\n' "$*" >&2; exit 1; }

install() {
  if [[ -f $STAMP ]] && cmp -s "$STAMP" "$PKG/package-lock.json"; then return 0; fi
  command -v npm >/dev/null || die "npm is not installed (node and npm run dynalite)"
  (cd "$PKG" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $PKG"
  cp "$PKG/package-lock.json" "$STAMP"
}

run() {
  install
  local args=(--host 127.0.0.1 --port "$PORT")
  [[ -z ${DYNALITE_PATH:-} ]] || args+=(--path "$DYNALITE_PATH")
  exec node "$PKG/node_modules/dynalite/cli.js" "${args[@]}" "$@"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

start() {
  install
  mkdir -p "$DIR"
  if [[ -f $DIR/pid ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
    printf 'http://127.0.0.1:%s\n' "$PORT"; return 0
  fi
  ! answers || die "port $PORT is in use by another program (set DYNALITE_PORT)"
  nohup "$0" run >"$DIR/dynalite.log" 2>&1 &
  echo $! >"$DIR/pid"
  for _ in $(seq 1 100); do
    if answers; then printf 'http://127.0.0.1:%s\n' "$PORT"; return 0; fi
    kill -0 "$(cat "$DIR/pid")" 2>/dev/null || { cat "$DIR/dynalite.log" >&2; die "it exited"; }
    sleep 0.1
  done
  die "it did not answer on port $PORT within 10 s (log: $DIR/dynalite.log)"
}

stop() {
  [[ -f $DIR/pid ]] || return 0
  local pid && pid=$(cat "$DIR/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$DIR/pid"
}

case ${1:-} in
  install) install ;;
  start) start ;;
  stop) stop ;;
  run) shift; run "$@" ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' && exit 2 ;;
esac

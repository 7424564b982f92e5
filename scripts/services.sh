#!/usr/bin/env bash
# Make sure the local PostgreSQL, Redis and RabbitMQ the tests use are running:
# start each one that is installed but stopped. Tests fall back to an embedded
# PostgreSQL when none is reachable, so nothing here is fatal.
set -u

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  for _ in $(seq 1 "${2:-30}"); do listening "$1" && return 0; sleep 1; done
  return 1
}

if ! listening 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for 5432 15 || echo "PostgreSQL did not start; tests will use an embedded one"
fi

if ! listening 6379 && command -v redis-server >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  wait_for 6379 10 || echo "Redis did not start"
fi

if ! listening 5672 && command -v rabbitmq-server >/dev/null 2>&1; then
  # A node that runs with its application stopped (a test run killed between the
  # RabbitMQ-outage test's stop_app and its start_app) needs start_app, not a second node.
  if timeout 30 rabbitmqctl -q ping >/dev/null 2>&1; then
    echo "starting RabbitMQ's application (the node ran without it)"
    timeout 120 rabbitmqctl start_app >/dev/null 2>&1 || true
  else
    echo "starting RabbitMQ"
    rabbitmq-server -detached || true
  fi
  wait_for 5672 60 || echo "RabbitMQ did not start"
fi
# nginx fronts the api replicas in the end-to-end topology tests and `make topology`.
if ! command -v nginx >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing nginx for the end-to-end topology tests (apt-get)"
  (apt-get install -y -qq nginx >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq nginx >/dev/null 2>&1)) \
    || echo "nginx could not be installed; the topology tests will fail"
fi
# wrk drives `tickerdesk bench`'s load (C: far cheaper on CPU than a Python client); without
# it the bench falls back to Python worker processes.
if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing wrk for tickerdesk bench (apt-get)"
  (apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null 2>&1)) \
    || echo "wrk could not be installed; tickerdesk bench will use Python load workers"
fi
# Debian's chromium runs the web app's browser tests (tests/e2e/test_web_app.py): Playwright drives it,
# and downloads no browser of its own.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the web app's browser tests (apt-get)"
  (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null 2>&1)) \
    || echo "chromium could not be installed; the browser tests will fail"
fi
exit 0

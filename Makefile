# The two commands a new user needs:
#   make up     run tickerdesk on this machine (embedded PostgreSQL unless configured; PORT=, HOST=)
#   make test   run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test unit bench verify topology ha ha-stop chaos clean

# The Python SDK (clients/python) is a distribution of its own; the tests and the CLI verbs use it.
$(BIN)/tickerdesk: pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,deploy]' -e ./clients/python
	touch $@

# `make up PORT=8001 HOST=0.0.0.0` serves elsewhere (set on the command line: a HOST or PORT
# in the environment, which some shells and platforms export, is not taken).
HOST := 127.0.0.1
PORT := 8000

up: $(BIN)/tickerdesk
	$(BIN)/tickerdesk up --host $(HOST) --port $(PORT)

# The whole suite: lint, types, the tests, then the chaos tests (tests/chaos: each stateful server of
# `make ha` killed under load), which need the high-availability servers and so run on their own.
# The HA servers start in the background while pytest runs (deploy/ha.sh takes a lock, so
# `make chaos` waits for that start rather than racing it); they are stopped at the end either way.
# pytest runs on TEST_PROCESSES processes (pytest-xdist; a module's tests stay on one, since they share its
# fixtures), then the `serial` tests alone: one of them stops the machine's RabbitMQ, which the others use.
TEST_PROCESSES := 2

test: $(BIN)/supervisord
	./scripts/services.sh
	$(BIN)/ruff check src tests clients
	$(BIN)/mypy
	mkdir -p .tickerdesk && (deploy/ha.sh servers >.tickerdesk/ha-servers.log 2>&1 &)
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadscope -m "not serial" \
	  && $(BIN)/python -m pytest -m serial || { deploy/ha.sh stop; exit 1; }
	$(MAKE) --no-print-directory chaos

unit: $(BIN)/tickerdesk
	$(BIN)/python -m pytest tests/unit

bench: $(BIN)/tickerdesk
	$(BIN)/tickerdesk bench

# supervisord (the deploy extra) comes with the rest, since make test runs the chaos tests; this rule adds it to an older venv.
$(BIN)/supervisord: $(BIN)/tickerdesk
	test -x $@ || $(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,deploy]'
	touch $@

topology: $(BIN)/supervisord
	deploy/topology.sh start

# High availability (README, "High availability"): Redis with Sentinel, a RabbitMQ cluster and
# pg_auto_failover (Debian's packages, installed where missing), then the topology on them.
ha: $(BIN)/supervisord
	deploy/ha.sh start

ha-stop:
	deploy/ha.sh stop

# Kills each server of `make ha` under load (tests/chaos, the end of `make test`: 2-4 minutes for the
# three, on one shared stack). The servers are started if they are not running, and stopped afterwards,
# pass or fail, unless KEEP_HA=1 (then the next run starts in seconds).
chaos: $(BIN)/supervisord
	status=0; deploy/ha.sh servers && TICKERDESK_CHAOS=1 $(BIN)/python -m pytest tests/chaos -x -v -s \
	  --durations=5 || status=$$?; [ -n "$(KEEP_HA)" ] || deploy/ha.sh stop; exit $$status

verify: $(BIN)/tickerdesk
	$(BIN)/tickerdesk verify

clean:
	rm -rf $(VENV) .tickerdesk

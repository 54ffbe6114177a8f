# The README's two commands (`make serve`, `make test`) do everything on a fresh
# machine: system packages, the virtualenv, then the job itself.
# VENV and BASE_PYTHON pick another interpreter (CI checks 3.12 and 3.13 this way):
#   make VENV=.venv-3.13 BASE_PYTHON=/root/.pyenv/versions/3.13.0/bin/python3 test
VENV ?= .venv
BASE_PYTHON ?= python3
PYTHON := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)
# Tools the tests and the generator start (ruff, python) come from the virtualenv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: system-deps install browser-deps wrk regen check-generated serve test lint typecheck bench \
	bench-validator bench-gateway bench-peers bench-stream bench-floor bench-in-process bench-soak bench-memory bench-access-log bench-metrics bench-ledger bench-client surface-diff trial-datamodel-codegen \
	accept-snapshots bump-rehearsal

# redis-server (shared rate-limit tests), chromium (the browser tests), npm (the
# openai JavaScript SDK those load) and postgresql (the ledger's tests start a
# throw-away cluster with its initdb and pg_ctl, from /usr/lib/postgresql/*/bin).
# Only the missing ones are asked for: a NodeSource nodejs bundles npm and
# conflicts with Debian's npm package, so asking for both fails the install.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "install$$missing (e.g. sudo apt-get install$$missing)"; exit 1; \
		fi; \
	fi

$(VENV)/installed: pyproject.toml
	$(BASE_PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[generator,dev]'
	touch $@

install: $(VENV)/installed

# The openai npm package at the version pinned in tests/browser/package.json (no lockfile:
# one package without dependencies).
tests/browser/node_modules/.installed: tests/browser/package.json
	cd tests/browser && npm install --no-package-lock --no-audit --no-fund --loglevel=error
	touch $@

browser-deps: tests/browser/node_modules/.installed

regen: install
	$(PYTHON) -m generator regen

check-generated: install
	$(PYTHON) -m generator check

serve: install
	$(PYTHON) -m gateway.serve

test: system-deps install browser-deps
	$(PYTHON) -m pytest

lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

typecheck: install
	$(PYTHON) -m mypy

bench: bench-validator bench-gateway bench-stream

bench-validator: install
	$(PYTHON) bench/validator_bench.py

# wrk is the load generator the README's figures were taken with (the bench falls back
# to an asyncio client without it); apt-get installs it when missing, as root.
wrk:
	@if ! command -v wrk >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
		else \
			echo "install wrk (e.g. sudo apt-get install wrk)"; exit 1; \
		fi; \
	fi

bench-gateway: install wrk
	$(PYTHON) bench/gateway_bench.py

# This gateway, LiteLLM's proxy and Portkey's gateway in front of one engine (optional,
# not in CI). The peers are installed by the script into bench/.peers/ (pinned, cached);
# the load generator is wrk (and node, npm for Portkey), from apt-get when missing.
bench-peers: install
	@if ! command -v wrk >/dev/null || ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nodejs npm >/dev/null; \
		else \
			echo "install wrk and npm (e.g. sudo apt-get install wrk nodejs npm)"; exit 1; \
		fi; \
	fi
	$(PYTHON) bench/peers_bench.py $(ARGS)

bench-stream: install
	$(PYTHON) bench/stream_bench.py

# The engine, a minimal Python hop and the gateway at one connection (issue 11).
bench-floor: install
	$(PYTHON) bench/latency_floor.py

# The gateway's own CPU per request in one process, without sockets: the protocol alone,
# the app with its operations off and on (issue 11).
bench-in-process: install
	$(PYTHON) bench/in_process.py

bench-soak: system-deps install
	$(PYTHON) bench/soak.py

bench-memory: install
	$(PYTHON) bench/body_memory.py

bench-access-log: install
	$(PYTHON) bench/access_log_bench.py

bench-metrics: install
	$(PYTHON) bench/metrics_bench.py

bench-ledger: install
	$(PYTHON) bench/ledger_bench.py

# The engines' client alone: gateway.upstream.http1 beside aiohttp (issue 11).
bench-client: install
	$(PYTHON) bench/upstream_client_bench.py

surface-diff: install
	$(PYTHON) -m generator surface-diff

# datamodel-code-generator's msgspec output against our fast-path emitter
# (docs/datamodel-code-generator.md); it lives in a scratch venv, not the project's.
TRIAL_CODEGEN := datamodel-code-generator==0.89.0
.trial/venv/bin/datamodel-codegen:
	$(BASE_PYTHON) -m venv .trial/venv
	.trial/venv/bin/pip install --quiet '$(TRIAL_CODEGEN)'

trial-datamodel-codegen: install .trial/venv/bin/datamodel-codegen
	$(PYTHON) bench/datamodel_codegen_trial.py --codegen .trial/venv/bin/datamodel-codegen

# The audited snapshots, accepted after `make regen` on a bump. Only the modules
# that own snapshots, each run whole and never with -x: syrupy deletes the
# snapshots that an update run stopped early by a failure did not reach.
SNAPSHOT_TESTS := $(patsubst tests/__snapshots__/%,tests/%.py,$(wildcard tests/__snapshots__/*))
accept-snapshots: install
	$(PYTHON) -m pytest -q --snapshot-update $(SNAPSHOT_TESTS)

# The whole bump procedure against openai==VERSION in a scratch clone of HEAD;
# prints one report. The working tree and its pin are left as they are.
bump-rehearsal: install
	@test -n "$(VERSION)" || { echo "usage: make bump-rehearsal VERSION=x.y.z"; exit 2; }
	$(PYTHON) -m generator.bump_rehearsal $(VERSION)

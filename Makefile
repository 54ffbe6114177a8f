# The README's two commands (`make serve`, `make test`) do everything on a fresh
# machine: system packages, the virtualenv, then the job itself.
PYTHON := .venv/bin/python
export PYTHONPATH := $(CURDIR)
# Tools the tests and the generator start (ruff, python) come from the virtualenv.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: system-deps install browser-deps regen check-generated serve test lint typecheck bench \
	bench-validator bench-gateway bench-soak bench-memory surface-diff

# redis-server (shared rate-limit tests), chromium (the browser tests) and npm (the
# openai JavaScript SDK those load).
system-deps:
	@if ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null \
		|| ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server chromium nodejs npm >/dev/null; \
		else \
			echo "install redis-server, chromium and npm (e.g. sudo apt-get install redis-server chromium nodejs npm)"; exit 1; \
		fi; \
	fi

.venv/installed: pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip
	.venv/bin/pip install --quiet -e '.[generator,dev]'
	touch $@

install: .venv/installed

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

bench: bench-validator bench-gateway

bench-validator: install
	$(PYTHON) bench/validator_bench.py

bench-gateway: install
	$(PYTHON) bench/gateway_bench.py

bench-soak: system-deps install
	$(PYTHON) bench/soak.py

bench-memory: install
	$(PYTHON) bench/body_memory.py

surface-diff: install
	$(PYTHON) -m generator surface-diff

# The README's two commands run everything; these targets are what they call.
PYTHON ?= .venv/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: install regen check-generated serve test lint typecheck bench bench-validator bench-gateway surface-diff

.venv/bin/python:
	python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip

install: .venv/bin/python
	$(PYTHON) -m pip install --quiet -e '.[generator,dev]'

regen:
	$(PYTHON) -m generator regen

check-generated:
	$(PYTHON) -m generator check

serve:
	$(PYTHON) -m gateway.serve

test:
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

typecheck:
	$(PYTHON) -m mypy

bench: bench-validator bench-gateway

bench-validator:
	$(PYTHON) bench/validator_bench.py

bench-gateway:
	$(PYTHON) bench/gateway_bench.py

surface-diff:
	$(PYTHON) -m generator surface-diff

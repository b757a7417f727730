# Two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-python test-roles lint bench clean

setup:
	./scripts/setup.sh local,dev

## Generate sample data, replay it through a local broker, sink it to the local lake,
## catalog it and run the shipped SQL queries. No AWS, nothing pre-installed.
demo: setup
	$(BIN)/stockpipe demo

## The whole test suite: lint, unit, integration and end-to-end tests.
test: setup lint test-python

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-python: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/stockpipe bench

clean:
	rm -rf .stockpipe build *.egg-info

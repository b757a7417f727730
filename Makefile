# Two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup setup-test demo test test-python test-roles lint bench clean

## The package and the local broker: all `make demo` needs.
setup:
	./scripts/setup.sh local

## Everything the test suite needs: Python extras, Debian's chromium for the dashboard test,
## s3rver (npm) for the S3 outage test.
setup-test:
	./scripts/setup.sh local,dev,ui,ansible
	./scripts/setup-browser.sh
	./tests/s3rver/install.sh

## Generate sample data, replay it through a local broker, sink it to the local lake,
## catalog it and run the shipped SQL queries. No AWS, nothing pre-installed.
demo: setup
	$(BIN)/stockpipe demo

## The whole test suite: lint, unit, integration, fault and end-to-end tests, then the Ansible roles.
test: setup-test lint test-python test-roles

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-python:
	$(BIN)/pytest

## Role tests: ansible-lint + molecule (KRaft, ZooKeeper) on systemd-nspawn hosts; needs root.
test-roles:
	tests/ansible/run.sh

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf .stockpipe build *.egg-info

# Two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup setup-test kafka-dist demo test test-python test-roles lint bench lab lab-down lab-status clean

## The package and the local broker: all `make demo` needs.
setup:
	./scripts/setup.sh local

## Everything the test suite needs: Python extras, Debian's chromium (dashboard test) and kcat (client guide),
## s3rver (npm) for the S3 outage test, and real Apache Kafka for every test that needs a broker.
setup-test:
	./scripts/setup.sh local,dev,ui,ansible
	./scripts/setup-test-tools.sh
	./tests/s3rver/install.sh
	$(MAKE) kafka-dist

## Apache Kafka 4.1.1, 4.1.0 (the upgrade test) and 3.9.1 (ZooKeeper mode) in Apache's tarball layout,
## assembled from Maven Central (needs Java 17 + Maven); cached in .cache/kafka-dist, rebuilt when
## pipeline/local/kafka_dist.py or its files change.
kafka-dist: setup
	$(BIN)/python -m pipeline.local.kafka_dist --out .cache/kafka-dist 4.1.1 4.1.0 3.9.1

## Generate sample data, replay it through a local broker, sink it to the local lake,
## catalog it and run the shipped SQL queries. No AWS, nothing pre-installed.
demo: setup
	$(BIN)/stockpipe demo

## The whole test suite: lint, unit, integration, fault and end-to-end tests, then the Ansible roles.
## (The roles' preparation, ansible-lint and the hosts' rootfs, does not run beside pytest: measured, it
## slowed pytest by as much as it saved, 1,238 s vs 1,051-1,068 s: both halves are CPU-bound.)
test: setup-test lint test-python test-roles

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Two workers, a test file each at a time (a file's tests share its fixtures and run in its order): most
## of the suite waits on brokers, paced streams and Ansible runs of one core, so two of them fill the cores.
test-python:
	$(BIN)/pytest -n 2 --dist loadfile

## Role tests: ansible-lint + molecule (KRaft, ZooKeeper) on systemd-nspawn hosts, then site.yml on
## the local lab; needs root.
test-roles:
	tests/ansible/run.sh

## The local lab: 3 brokers + 1 pipeline host (systemd-nspawn) and a local AWS endpoint, with
## inventory/lab for `ansible-playbook -i inventory/lab site.yml`. Linux and root only.
lab:
	./scripts/lab.sh up

lab-down:
	./scripts/lab.sh down

lab-status:
	./scripts/lab.sh status

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf .stockpipe build *.egg-info

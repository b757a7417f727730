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
## The Debian packages and s3rver (downloads, nothing shared with the venv) install while pip and Maven run.
setup-test:
	@./scripts/setup-test-tools.sh & tools=$$!; ./tests/s3rver/install.sh & s3rver=$$!; \
	./scripts/setup.sh local,dev,ui,ansible && $(MAKE) --no-print-directory kafka-dist; rc=$$?; \
	wait $$tools || rc=1; wait $$s3rver || rc=1; exit $$rc

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
## pytest leaves about a fifth of two cores idle while it waits on brokers and paced streams: the role
## tests' preparation (ansible-lint, the hosts' rootfs, the tarballs: run.sh --prepare, ~2.5 minutes
## alone) runs beside it, its lines printed once both are done.
test: setup-test lint
	@mkdir -p test-artifacts; \
	tests/ansible/run.sh --prepare >test-artifacts/roles-prepare.log 2>&1 & prepare=$$!; \
	$(PYTEST); tests=$$?; \
	wait $$prepare; prepared=$$?; \
	echo "tests/ansible/run.sh --prepare (beside pytest)"; cat test-artifacts/roles-prepare.log; \
	[ $$tests -eq 0 ] && [ $$prepared -eq 0 ]
	STOCKPIPE_ROLES_PREPARED=1 tests/ansible/run.sh

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Two workers, a test file each at a time (a file's tests share its fixtures and run in its order): most
## of the suite waits on brokers, paced streams and Ansible runs of one core, so two of them fill the cores.
PYTEST := $(BIN)/pytest -n 2 --dist loadfile
test-python:
	$(PYTEST)

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

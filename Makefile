# Runnel: build, run, test. `make test` is what CI runs (through .ci/run).

SWIFT ?= swift
VENV := .venv
PYTHON := $(VENV)/bin/python3

.PHONY: run test lint build release deps venv bench bench-rest bench-connect bench-pipeline bench-cli clean

## Quick start: the broker and REST proxy on 127.0.0.1:8082, the connect worker on 8083, data in ./runnel-data.
run:
	$(SWIFT) run -c release runnel serve

## Every test: unit tests and end-to-end tests (which run the binary and kafka-python).
test: deps venv
	RUNNEL_TEST_PYTHON=$(abspath $(PYTHON)) $(SWIFT) test

## Formatting and dependency-direction checks.
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift
	scripts/check-imports.sh

build:
	$(SWIFT) build --build-tests

release:
	$(SWIFT) build -c release --product runnel

## System packages the build and tests need (installed only when missing).
deps:
	scripts/install-deps.sh

## The Python packages the end-to-end tests use, in a virtualenv.
venv: $(VENV)/.installed

$(VENV)/.installed: Tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r Tests/requirements.txt
	touch $@

## The log engine benchmark (takes several minutes and ~4 GiB of disk; see bench/README.md).
bench: release
	bench/log-append.sh

## The REST proxy benchmark (wrk; see bench/README.md).
bench-rest: release
	bench/rest-proxy.sh

## The connect worker benchmark: file source → topic → file sink (see bench/README.md).
bench-connect: release
	bench/connect.sh

## The CLI benchmark: runnel produce of a 1 M line file, runnel consume of it back (see bench/README.md).
bench-cli: release
	bench/cli.sh

## The built-in connectors benchmark: SQLite → topic → bucket, next to sqlite3 and cat (see bench/README.md).
bench-pipeline: release
	bench/pipeline.sh

clean:
	rm -rf .build $(VENV)

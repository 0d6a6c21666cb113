# Runnel: build, run, test. `make test` is what CI runs (through .ci/run).

SWIFT ?= swift
VENV := .venv
PYTHON := $(VENV)/bin/python3

.PHONY: run test lint build release deps venv bench clean

## Quick start: append 100 000 records to ./runnel-data with the log engine and report throughput.
run:
	$(SWIFT) run -c release runnel log-perf

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

clean:
	rm -rf .build $(VENV)

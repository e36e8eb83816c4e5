# The two set-up commands: `make run` and `make test`. Both create .venv and install as needed.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
DATA ?= .idgate
PORT ?= 8443
ISSUER := https://localhost:$(PORT)

.PHONY: run test lint bench install install-test clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "idgate needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,postgres,redis]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	@test -f $(DATA)/config.toml || $(BIN)/idgate init --data $(DATA) --issuer $(ISSUER) --port $(PORT)
	@echo ""
	@echo "Walk the flow in another terminal (the admin password was printed by the first 'make run'):"
	@echo "  TOKEN=\$$($(BIN)/idgate login admin --issuer $(ISSUER) --ca $(DATA)/tls/ca.pem --token-only)"
	@echo "  curl --cacert $(DATA)/tls/ca.pem -H \"Authorization: Bearer \$$TOKEN\" $(ISSUER)/userinfo"
	@echo "  $(BIN)/idgate verify \"\$$TOKEN\" --issuer $(ISSUER) --ca $(DATA)/tls/ca.pem"
	@echo ""
	$(BIN)/idgate serve --data $(DATA) --port $(PORT)

# The layer contracts of pyproject.toml's [tool.importlinter] (issue 12): a broken one fails here.
lint: install-test
	$(BIN)/lint-imports --no-cache --no-logo

test: lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: install-test
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk) || echo "wrk is missing: apt-get install wrk"
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info

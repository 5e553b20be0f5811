# Two commands matter: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test poll bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "shwatch needs Python 3.11 or newer on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/shwatch run

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

poll: $(STAMP)
	$(VENV)/bin/shwatch poll --once

bench: $(STAMP)
	$(VENV)/bin/python bench/match.py
	$(VENV)/bin/python bench/poll.py
	$(VENV)/bin/python bench/fanout.py
	$(VENV)/bin/python bench/digest.py

clean:
	rm -rf $(VENV) var .pytest_cache

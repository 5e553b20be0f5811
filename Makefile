# Two commands matter: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test poll bench clean browser

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "shwatch needs Python 3.11 or newer on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/shwatch run

test: $(STAMP) browser
	$(VENV)/bin/python -m pytest -q -n 3 --dist loadfile

# The browser test (tests/test_web_browser.py) drives Debian's Chromium; CI runs as root on a
# fresh machine, so install it (and a Chinese font for the screenshots) when missing.
browser:
	@if ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium, chromium-driver and fonts-wqy-microhei for the browser test"; \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null; } \
				|| echo "could not install Chromium: the browser test will be skipped" >&2; \
		else \
			echo "Chromium is missing (as root: apt-get install chromium chromium-driver fonts-wqy-microhei): the browser test will be skipped" >&2; \
		fi; \
	fi

poll: $(STAMP)
	$(VENV)/bin/shwatch poll --once

bench: $(STAMP)
	$(VENV)/bin/python bench/match.py
	$(VENV)/bin/python bench/poll.py
	$(VENV)/bin/python bench/fanout.py
	$(VENV)/bin/python bench/digest.py
	$(VENV)/bin/python bench/search.py
	$(VENV)/bin/python bench/responsive.py
	$(VENV)/bin/python bench/memory.py --without-test-extras

clean:
	rm -rf $(VENV) var .pytest_cache

# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test chromium lint bench sheet clean constraints

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/imprint demo

test: $(INSTALLED) chromium
	$(BIN)/python -m pytest -q -n 2

# The web page's browser test drives Debian's Chromium: installed with apt-get where it is
# missing and this runs as root (a CI machine); elsewhere that test is skipped unless CI is set.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium with apt-get for the web page test"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get -qq update >/dev/null && \
	    apt-get -qq -o Dpkg::Use-Pty=0 install -y chromium >/dev/null; \
	  else \
	    echo "chromium is missing: the web page test is skipped (and fails where CI is set)"; \
	  fi; \
	fi

lint: $(INSTALLED)
	$(BIN)/ruff check .

bench: $(INSTALLED)
	$(BIN)/python -m bench

sheet: $(INSTALLED)
	$(BIN)/imprint synth sheet --out docs/contact_sheet.jpg

clean:
	rm -rf $(VENV) data/demo bench/out .pytest_cache

# The installed versions written down again (after a deliberate upgrade: tests and benchmarks
# re-run on them); torch stays pinned by pyproject.toml.
constraints: $(INSTALLED)
	{ head -3 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

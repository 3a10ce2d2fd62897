# cowlab: two commands.
#   make lab    set up .venv and open the course in JupyterLab (http://127.0.0.1:8888)
#   make test   set up .venv and run everything: pytest over tests/, nbval over the notebooks
#   make bench  run bench/*.py one after another (they print their figures)
#   make notebooks  build notebooks/, solutions/, exercises/ from notebooks/src/ (what is stale)
#   make lite   build the course as a static JupyterLite site into build/lite/
#
# Needs only Python >= 3.10 (python3.11 if present, else python3) and, as root on
# Debian, apt-get: the first run creates .venv and installs the project into it; later
# runs reuse it (.venv/.installed is rebuilt only when pyproject.toml changes).
# Knobs: make lab PORT=8899 HOST=0.0.0.0 LAB_ARGS=--no-browser   make test PYTEST_ARGS=-x
#        make notebooks ONLY="02 06" FORCE=1 (some notebooks; execute even fresh ones)
#        PYTHON=/path/to/python3.11 (which Python builds .venv)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8888
NOTEBOOK ?= notebooks/00-start.ipynb
NB_DIRS := notebooks solutions exercises
SANITIZE := tests/nbval_sanitize.cfg
PYTEST_ARGS ?=
LAB_ARGS ?=
ONLY ?=
FORCE ?=
APT := DEBIAN_FRONTEND=noninteractive apt-get

# $(call apt_install,PACKAGE): as root, install a Debian package; refresh the package
# lists first only when they do not know the package (a fresh machine has none), and
# once more if the install fails on stale lists.
apt_install = apt-cache show $(1) >/dev/null 2>&1 || $(APT) update; $(APT) install -y $(1) || { $(APT) update && $(APT) install -y $(1); }

# True in a recipe when we may apt-get install: root on a machine that has apt-get.
IS_ROOT = [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1

.PHONY: help lab test test-py test-nb notebooks bench setup setup-test renderer browser sandbox npm lite clean

help:
	@echo "make lab     open the course in JupyterLab (PORT=$(PORT), HOST=$(HOST))"
	@echo "make test    run the whole suite: pytest tests/ and nbval over the notebooks"
	@echo "make notebooks  build the course from its text sources in notebooks/src/:"
	@echo "             notebooks/, solutions/, exercises/, executed (only what is stale;"
	@echo "             ONLY=\"02 06\" for some, FORCE=1 to execute fresh ones too)"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make lite    build the course as a static site (JupyterLite, no server) into build/lite/"
	@echo "make clean   remove .venv and caches"

# --- set-up ---------------------------------------------------------------------------

# The venv. Debian's python3 cannot make one without python3.X-venv: install it as
# root, otherwise say which package is missing. A failed attempt leaves nothing behind.
$(PY):
	@test -n "$(PYTHON)" || { echo "make: no python3 on PATH; install Python >= 3.10" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { \
	  echo "make: $(PYTHON) is $$($(PYTHON) -V 2>&1); cowlab needs Python >= 3.10:" \
	       "run make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }
	@echo "== creating $(VENV) with $(PYTHON) ($$($(PYTHON) -V 2>&1))"
	@if ! $(PYTHON) -m venv $(VENV); then \
	  rm -rf $(VENV); \
	  pkg="python$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"; \
	  if $(IS_ROOT); then \
	    echo "== installing Debian's $$pkg (venv support)"; \
	    $(call apt_install,$$pkg); \
	    $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }; \
	  else \
	    echo "make: $(PYTHON) cannot create a venv; install $$pkg (sudo apt-get install $$pkg)" >&2; \
	    exit 1; \
	  fi; \
	fi

# The project and its test/lab dependencies, reinstalled when pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY)
	@echo "== installing cowlab and its test/lab dependencies into $(VENV)"
	$(PY) -m pip install -e '.[test]'
	@touch $@

# A graphviz renderer: Debian's dot when root; otherwise graphviz-pure in .venv, a
# self-contained `graphviz-pure` command that cowlab's renderer uses when dot is absent.
renderer: $(STAMP)
	@if command -v dot >/dev/null 2>&1; then \
	  echo "== graphviz renderer: $$(command -v dot)"; \
	elif [ -x $(VENV)/bin/graphviz-pure ]; then \
	  echo "== graphviz renderer: $(VENV)/bin/graphviz-pure"; \
	elif $(IS_ROOT); then \
	  echo "== installing Debian's graphviz (dot)"; \
	  $(call apt_install,graphviz); \
	else \
	  echo "== no dot and not root: installing graphviz-pure into $(VENV)"; \
	  $(PY) -m pip install graphviz-pure; \
	fi

# Debian's chromium for the real-browser test (playwright drives it; no browser download).
browser:
	@if command -v chromium >/dev/null 2>&1; then \
	  echo "== browser: $$(command -v chromium)"; \
	elif $(IS_ROOT); then \
	  echo "== installing Debian's chromium (for the browser test)"; \
	  $(call apt_install,chromium); \
	else \
	  echo "== browser: no chromium on PATH and not root; the browser test needs it:" \
	       "sudo apt-get install chromium"; \
	fi

# Debian's bubblewrap: `cowlab grade` runs every submission inside it (and refuses to
# grade without it unless told --no-sandbox). setpriv (util-linux) is always there.
sandbox:
	@if command -v bwrap >/dev/null 2>&1; then \
	  echo "== grading sandbox: $$(command -v bwrap)"; \
	elif $(IS_ROOT); then \
	  echo "== installing Debian's bubblewrap (the grading sandbox)"; \
	  $(call apt_install,bubblewrap); \
	else \
	  echo "== grading sandbox: no bwrap on PATH and not root; cowlab grade needs it:" \
	       "sudo apt-get install bubblewrap"; \
	fi

# npm, for the static site's Pyodide runtime and viz.js: Debian's when root.
npm:
	@if command -v npm >/dev/null 2>&1; then \
	  echo "== npm: $$(command -v npm)"; \
	elif $(IS_ROOT); then \
	  echo "== installing Debian's npm (for make lite)"; \
	  $(call apt_install,npm); \
	else \
	  echo "make: npm is missing and we are not root: sudo apt-get install npm" >&2; exit 1; \
	fi

setup: $(STAMP) renderer sandbox
setup-test: setup browser

# --- the two commands -----------------------------------------------------------------

# JupyterLab on the course, serving the repository's root (so the chapters' links to
# ../exercises/ and the glossary open, and the file browser shows the course's folders)
# and opening 00-start. Binds 127.0.0.1 unless HOST says otherwise; as root (a
# container) JupyterLab wants --allow-root. Without the start notebook (a checkout in
# the middle of a change) it opens the repository's folder instead, and says so.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

lab: setup
	@nb=$(NOTEBOOK); \
	if [ ! -e "$$nb" ]; then echo "== $$nb is missing: opening the repository's folder"; nb=; fi; \
	echo "== starting JupyterLab on $(HOST):$(PORT), serving $(CURDIR) (Ctrl-C to stop)"; \
	set -x; \
	exec $(VENV)/bin/jupyter lab $$nb --ServerApp.root_dir="$(CURDIR)" --ip=$(HOST) --port=$(PORT) \
	  $(ALLOW_ROOT) $(LAB_ARGS)

# The static site: build/lite/ (not committed; npm and PyPI downloads are cached in
# build/lite-cache/, so a rebuild takes seconds). Serve the folder from any static host.
lite: $(STAMP) npm
	$(PY) -m cowlab.lite.build --out build/lite --cache build/lite-cache

# Both halves always run, after the set-up and the static site (tests/browser/test_lite.py
# tests it); the target fails if either failed.
test: setup-test lite
	@status=0; \
	$(MAKE) --no-print-directory test-py || status=1; \
	$(MAKE) --no-print-directory test-nb || status=1; \
	if [ $$status = 0 ]; then echo "== make test: all passed"; \
	else echo "== make test: FAILED (see above)" >&2; fi; \
	exit $$status

# The two halves alone, once make test (or make lab) has set .venv up.
test-py:
	@echo "== pytest tests/ $(PYTEST_ARGS)"
	$(PY) -m pytest $(PYTEST_ARGS)

# nbval over the notebook directories that hold notebooks; says which ran and which
# were left out (none yet), so an empty directory neither fails nor hides.
test-nb:
	@dirs=""; \
	for d in $(NB_DIRS); do \
	  if [ -n "$$(find $$d -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -print -quit 2>/dev/null)" ]; then \
	    dirs="$$dirs $$d"; \
	  else \
	    echo "== nbval: $$d/ has no notebooks yet: left out"; \
	  fi; \
	done; \
	if [ -z "$$dirs" ]; then echo "== nbval: no notebooks in $(NB_DIRS): nothing to run"; exit 0; fi; \
	echo "== nbval over:$$dirs"; \
	$(PY) -m pytest --nbval $$dirs --nbval-current-env --nbval-sanitize-with $(SANITIZE) $(PYTEST_ARGS)

# The executed notebooks from their text sources (cowlab/course/): a notebook whose
# cells already match its source is left alone; prose-only edits keep the outputs.
notebooks: setup
	$(PY) -m cowlab.course $(ONLY) $(if $(FORCE),--force)

# Every benchmark runs, even after one fails; the target then fails naming them.
bench: setup
	@shopt -s nullglob; files=(bench/*.py); failed=""; \
	if [ $${#files[@]} = 0 ]; then echo "== bench: no benchmarks in bench/ yet"; exit 0; fi; \
	for f in "$${files[@]}"; do echo "== $$f"; $(PY) "$$f" || failed="$$failed $$f"; done; \
	if [ -n "$$failed" ]; then echo "== bench: FAILED:$$failed" >&2; exit 1; fi

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build/lite build/lite-cache

# GeoSeek: `make demo` installs and runs the main job (index the sample, start API + UI); `make test` installs and runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install system-deps demo test bench

install: $(VENV)/.installed

# constraints.txt pins torch/torchvision to the builds this machine's package mirror serves.
# [all] is every optional extra (ray, milvus, postgres, ui, bench; see pyproject.toml), [dev] the test tools.
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[all,dev]'
	touch $@

demo: install
	$(VENV)/bin/geoseek demo

# Debian packages the tests start for real: chromium (Playwright cannot download a browser here)
# and PostgreSQL (the shared-catalog tests run their own server on 127.0.0.1).
system-deps:
	@command -v chromium >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium and postgresql for the tests"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql >/dev/null; }

# Two workers (at most four on bigger machines): most tests wait on servers, subprocesses and disks.
# The quick loop while editing: `.venv/bin/python -m pytest -m "not slow" -n auto` (skips end-to-end tests).
test: install system-deps
	$(PY) -m pytest -n auto --maxprocesses 4

# Regenerates every table and plot in benchmarks/results/ and rewrites benchmarks/README.md (about an hour here).
bench: install
	$(PY) benchmarks/run_all.py

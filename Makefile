# GeoSeek: `make demo` installs and runs the main job (index the sample, start API + UI); `make test` installs and runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
comma := ,# a comma inside $(call ...) arguments
# pip's full output (this machine's pip configuration alone adds ~150 warnings) goes here, not to the terminal.
LOG := $(VENV)/install.log

.PHONY: install system-deps demo test screenshots bench gpu-check

install: $(VENV)/.installed

# Runs a command with its output appended to $(LOG); if it fails, shows the log's last lines and fails with its status.
logged = { $(1); } >>$(LOG) 2>&1 || { status=$$?; echo "failed: $(1)"; echo "last 40 lines of $(LOG):"; \
  tail -n 40 $(LOG); exit $$status; } >&2

# constraints.txt pins torch/torchvision to the builds this machine's package mirror serves.
# [all] is every optional extra (ray, milvus, postgres, ui, bench; see pyproject.toml), [dev] the test tools.
$(VENV)/.installed: pyproject.toml constraints.txt
	@if [ -x $(PY) ]; then echo "updating $(VENV)"; else echo "creating $(VENV)"; python3 -m venv $(VENV); fi
	@: >$(LOG)
	@echo "upgrading pip (its output: $(LOG))"
	@$(call logged,$(VENV)/bin/pip install --progress-bar off --upgrade pip)
	@echo "installing GeoSeek and its test tools (3 to 5 minutes)"
	@$(call logged,$(VENV)/bin/pip install --progress-bar off -c constraints.txt -e '.[all$(comma)dev]')
	@touch $@
	@echo "installed into $(VENV)"

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
# The tests write only to temporary folders (the browser test's screenshots too: see `screenshots`).
test: install system-deps
	$(PY) -m pytest -n auto --maxprocesses 4

# Refreshes the README's screenshots in docs/screenshots/ (tracked) by running the browser test with its
# screenshot folder pointed there; `make test` leaves them alone.
screenshots: install system-deps
	GEOSEEK_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest tests/ui/test_browser.py tests/views/test_real_rasters.py -q

# Regenerates every table and plot in benchmarks/results/ and rewrites benchmarks/README.md (about an hour here).
bench: install
	$(PY) benchmarks/run_all.py

# The prepared check for a session that has the GPU machine (at most ~5 minutes): the gpu-marked tests, bench speed's
# GPU rows, FAISS GPU vs CPU at 1M views; writes benchmarks/results/gpu_check.json. Without a GPU it runs the CPU side
# and says what it skipped and why. No `install` prerequisite: that machine has no network. GPU_CHECK_ARGS passes options.
gpu-check:
	@if [ -x $(PY) ]; then py=$(PY); else py=python3; echo "no $(PY): using python3"; fi; \
	  $$py benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

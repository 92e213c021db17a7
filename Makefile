# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv and install the pinned dependencies (CPU build of torch==2.13.0) first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Use the shared development data when it sits beside the project; otherwise cilab downloads MNIST.
export CILAB_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
DEMO_OUT ?= runs/demo

.PHONY: demo test install lint bench clean

demo: install
	$(PY) -m cilab demo --out $(DEMO_OUT)

test: install
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest -q

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $@

lint: install
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

bench: install
	$(PY) benchmarks/bench_gen.py

clean:
	rm -rf $(VENV) runs .pytest_cache

# `make test` and `make demo` work on a fresh clone: they create .venv and install the
# pinned stack first (reused while requirements.txt and pyproject.toml are unchanged).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv test java-test demo bench clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests
	@$(MAKE) --no-print-directory java-test

# The Android decoder (plain Java) against the Python golden vectors; says SKIPPED without a JDK/JUnit 4.
java-test:
	@android_demo/decoder/javatest.sh

demo: $(STAMP)
	$(PY) -m training.quickstart

bench: $(STAMP)
	$(PY) benchmarks/tflite_speed.py
	$(PY) benchmarks/model_speed.py
	$(PY) benchmarks/targets_speed.py
	$(PY) benchmarks/grouping_speed.py
	$(PY) benchmarks/decoder_quality.py
	$(PY) benchmarks/data_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache

# `make test` and `make demo` work on a fresh clone: they create .venv and install the
# pinned stack first (reused while requirements.txt and pyproject.toml are unchanged).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv test test-fast lint format java-test web-deps web-test web-demo android-model android-apk android-robolectric android-golden demo bench clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $(STAMP)

# Two pytest-xdist workers on the 2 cores, by file (tests sharing a fixture or a file: tests/conftest.py XDIST_GROUPS);
# PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= 2
test: $(STAMP) web-deps lint android-apk
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --durations=25 tests
	@$(MAKE) --no-print-directory java-test

# The same without the tests marked slow (training, conversions, browsers): a quick check while editing.
test-fast: $(STAMP) lint
	$(PY) -m pytest -q -m "not slow" tests

# ruff: lint rules and formatting (configured in pyproject.toml); `make format` rewrites the files.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The Android decoder (plain Java) against the Python golden vectors; says SKIPPED without a JDK/JUnit 4.
java-test:
	@android_demo/decoder/javatest.sh

# The web demo's npm packages, exactly as web_demo/package-lock.json pins them (reinstalled when
# the lock file changes). Without npm it says so and the web tests report SKIPPED with the reason.
WEB_LOCK := web_demo/node_modules/.package-lock.json
web-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
	    echo "SKIPPED web-deps: npm not found (apt-get install nodejs npm); the web demo tests will be skipped"; \
	elif [ ! -f $(WEB_LOCK) ] || [ web_demo/package-lock.json -nt $(WEB_LOCK) ]; then \
	    (cd web_demo && npm ci --no-audit --no-fund --loglevel=error) || \
	    echo "WARNING: npm ci failed in web_demo; the web demo browser tests will be skipped"; \
	fi

# Only the web demo's tests (also part of `make test`): JS ports vs golden vectors, page in Chromium.
web-test: $(STAMP) web-deps
	$(PY) -m pytest -q tests/ports/test_web_demo.py

# The web demo on http://127.0.0.1:$(WEB_PORT)/ : exports the default .tflite into web_demo/models/
# (the pretrained network when this checkout has it) and serves the page with COOP/COEP headers.
# WEB_HOST=0.0.0.0 to open it from a phone on the same network (see web_demo/README.md for HTTPS).
WEB_HOST ?= 127.0.0.1
WEB_PORT ?= 8080
web-demo: $(STAMP) web-deps
	$(PY) web_demo/tools/make_model.py
	@echo "Open the URL below in a browser (Ctrl-C stops the server). From a phone on the same network:"
	@echo "make web-demo WEB_HOST=0.0.0.0; a phone's browser gives the camera only to HTTPS pages (see web_demo/README.md)."
	node web_demo/serve.mjs --host $(WEB_HOST) --port $(WEB_PORT)

# The Android app's default model: the shipped COCO-trained network, fp16 (for the GPU delegate;
# see android_demo/README.md for the int8 CPU variant), at the camera's operating point
# (mln_tf.operating_points.camera_default; tests/ports/test_android_apk.py holds the two together).
ANDROID_MODEL ?= android_demo/app/src/main/assets/mln.tflite
ANDROID_SPEED ?= balanced
android-model: $(STAMP)
	$(VENV)/bin/mln-pose export tflite pretrained:tfpose_mobilenet_thin $(ANDROID_MODEL) --mode fp16 --speed $(ANDROID_SPEED) --overwrite

# The signed debug APK (android_demo/build/mln-demo-debug.apk) without Gradle: Debian's aapt2,
# zipalign and apksigner, jars and AARs from Maven Central by `mvn` (versions: android_demo/gradle/
# libs.versions.toml, which the Gradle build reads too). Without the tools it says what to install
# (and the APK tests report SKIPPED); .ci/run installs them. The model is made once when missing.
android-apk: $(STAMP)
	@test -f $(ANDROID_MODEL) || $(MAKE) --no-print-directory android-model
	@$(PY) android_demo/tools/build_apk.py --model $(ANDROID_MODEL); status=$$?; \
	    if [ $$status -eq 3 ] && [ -n "$(filter test,$(MAKECMDGOALS))" ]; then status=0; fi; exit $$status

# The app's Activity on Robolectric (the framework of targetSdk on the JVM) with the APK's resources:
# starts, asks for the camera, says what is wrong, draws the people of replayed camera frames.
# Also run by `make test` (tests/ports/test_android_apk.py).
android-robolectric: android-apk
	@$(PY) android_demo/tools/robolectric_test.py

# The golden camera frames of the app's JVM frame-path test, from the APK's model on LiteRT.
android-golden: $(STAMP)
	@test -f $(ANDROID_MODEL) || $(MAKE) --no-print-directory android-model
	$(PY) android_demo/tools/write_frame_golden.py --model $(ANDROID_MODEL)

demo: $(STAMP)
	$(VENV)/bin/mln-pose demo --overwrite

bench: $(STAMP)
	$(PY) benchmarks/tflite_speed.py
	$(PY) benchmarks/model_speed.py
	$(PY) benchmarks/targets_speed.py
	$(PY) benchmarks/grouping_speed.py
	$(PY) benchmarks/decoder_quality.py
	$(PY) benchmarks/data_speed.py
	$(PY) benchmarks/web_speed.py
	$(PY) benchmarks/tracking_quality.py

clean:
	rm -rf $(VENV) runs .pytest_cache

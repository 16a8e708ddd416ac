# Two entry points (see README): `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PLUGINS := plugins/webdnn-build-onnx plugins/webdnn-build-optimize plugins/webdnn-build-js plugins/webdnn-build-wasm plugins/webdnn-build-webgpu

.PHONY: setup setup-webgpu demo test conformance-report clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements-dev.txt $(addsuffix /pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q -e . $(addprefix -e ,$(PLUGINS))
	touch $@

node_modules/.installed: package.json js-runtime/package.json vite-plugin/package.json
	npm install --no-audit --no-fund
	touch $@

# WebGPU without a GPU (Vulkan loader, Chromium's SwiftShader or Mesa lavapipe) and headless Chromium.
setup-webgpu:
	tools/setup-webgpu.sh

# Build the example model and run it in Node on the js backend.
demo: setup
	$(PY) examples/models/generate.py tiny_cnn
	$(VENV)/bin/webdnn-build build examples/models/tiny_cnn.onnx -o examples/bundles/tiny_cnn
	@# WebGPU in Node needs a Vulkan driver: use the software one if `make test`/`make setup-webgpu` installed it
	eval "$$(tools/setup-webgpu.sh --no-install 2>/dev/null)"; node examples/node/run.mjs examples/bundles/tiny_cnn

# Every test: Python (compiler, plugins, verify, ONNX conformance) and the JS runtime.
test: setup
	$(PY) tools/sync_js_ops.py --check
	@# WebGPU on a software Vulkan driver + headless Chromium (apt, idempotent); tests needing them skip without
	tools/setup-webgpu.sh > .webgpu-env || { echo "warning: WebGPU setup failed; webgpu/browser tests will skip" >&2; : > .webgpu-env; }
	. ./.webgpu-env && $(PY) -m pytest -q && node --test js-runtime/test/ \
	  && node --test --test-concurrency=1 vite-plugin/test/*.test.js

# Regenerate docs/conformance.md from a full conformance run.
conformance-report: setup
	$(PY) tools/conformance_report.py

clean:
	rm -rf $(VENV) node_modules examples/bundles

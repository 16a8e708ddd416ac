# Two entry points (see README): `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PLUGINS := plugins/webdnn-build-onnx plugins/webdnn-build-optimize plugins/webdnn-build-js plugins/webdnn-build-wasm plugins/webdnn-build-webgpu

.PHONY: setup setup-webgpu demo test test-env check-webgpu conformance-report clean

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
test: setup test-env
	$(PY) tools/sync_js_ops.py --check
	. ./.webgpu-env && $(PY) -m pytest -q && node --test js-runtime/test/*.test.js \
	  && node --test --test-concurrency=1 vite-plugin/test/*.test.js

# CI=true (or 1, yes): a failed WebGPU or Chromium setup fails the run, and so does every test that
# needs a missing component. Without it such tests skip with the reason (docs/testing.md).
STRICT := $(filter 1 true TRUE True yes YES,$(CI))
WEBGPU_SETUP ?= tools/setup-webgpu.sh

# WebGPU on a software Vulkan driver + headless Chromium (apt, idempotent), into .webgpu-env.
test-env: setup
	@$(WEBGPU_SETUP) > .webgpu-env || { \
	  if [ -n "$(STRICT)" ]; then echo "error: WebGPU setup failed (CI=$(CI): the webgpu and browser tests must run)" >&2; exit 1; fi; \
	  echo "warning: WebGPU setup failed; webgpu/browser tests will skip" >&2; : > .webgpu-env; }
	@if [ -n "$(STRICT)" ]; then $(MAKE) --no-print-directory check-webgpu; fi

# Fails unless Node (Dawn) gets a WebGPU adapter and headless Chromium starts, with .webgpu-env.
PROBE_ADAPTER := const { webgpuAvailability } = await import("./js-runtime/test/webgpu-helpers.js"); \
  const r = await webgpuAvailability(); \
  if (r.reason) { console.error("error: no WebGPU adapter in Node: " + r.reason); process.exit(1); } \
  console.log("WebGPU in Node: " + r.adapter);
check-webgpu:
	@. ./.webgpu-env && node --input-type=module -e '$(PROBE_ADAPTER)'
	@. ./.webgpu-env && out="$$(node tests/browser/harness.mjs --check 2>&1)" \
	  || { echo "error: headless Chromium is not usable: $$out" >&2; exit 1; }; echo "headless Chromium: ok"

# Regenerate docs/conformance.md from a full conformance run.
conformance-report: setup
	$(PY) tools/conformance_report.py

clean:
	rm -rf $(VENV) node_modules examples/bundles

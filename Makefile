# ceasefire-monitor: the two commands (`make run`, `make test`) and a few helpers.
# `make help` lists the targets.

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
MANAGE := $(PY) manage.py
HONCHO := $(PY) -m honcho
PORT ?= 8000
# pytest-xdist workers per run; `make test XDIST=` runs in one process.
XDIST ?= -n 2
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k zones -x"`.
PYTEST_ARGS ?=
# Arguments of `manage.py bench`, e.g. `make bench ARGS="--points 200000"`.
ARGS ?=
# `make run` in debug mode fills an instance that has no report yet with DEMO_DAYS days of
# demo reports (`manage.py demo_data`); DEMO_DATA=0 leaves it empty.
DEMO_DATA ?= 1
DEMO_DAYS ?= 7

# Installed-for stamps: re-install only when pyproject.toml changes.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

# Exits 0 when the settings say debug (the embedded default), 1 otherwise.
IS_DEBUG := $(PY) -c "import sys, config.settings as s; sys.exit(0 if s.DEBUG else 1)" 2>/dev/null

export PYTHONUNBUFFERED := 1

.DEFAULT_GOAL := help
.PHONY: help run test test-sqlite test-postgres lint format bench bench-postgres loadtest faults clean distclean

help:
	@echo "make run        set up (venv, install, migrate, seed) and serve web + worker + beat"
	@echo "                on http://127.0.0.1:$(PORT); Ctrl-C stops all. A fresh debug instance gets"
	@echo "                demo accounts and $(DEMO_DAYS) days of demo reports (DEMO_DATA=0: no reports)"
	@echo "make test       install the dev dependencies, run the suite on SQLite then PostgreSQL"
	@echo "make lint       ruff check + ruff format --check"
	@echo "make bench      the benchmarks: classifier, report lists, bulk demo data on SQLite (ARGS=...),"
	@echo "                then summary compilation on a throwaway PostgreSQL (make bench-postgres)"
	@echo "make loadtest   50 observers + 4 partner tools against gunicorn, Celery worker and beat on"
	@echo "                PostgreSQL + Redis, then on SQLite, LOAD_DURATION s each (LOAD_ARGS=...)"
	@echo "make faults     the fault runs (pytest -m faults on PostgreSQL, then SQLite): Redis killed and"
	@echo "                PostgreSQL restarted under load, a worker killed, a sync interrupted; a"
	@echo "                pass/fail line per fault (FAULTS_LOAD=large: 50 observers, FAULTS_ARGS=...)"
	@echo "make clean      remove caches and build leftovers (keeps .venv and var/)"
	@echo "make distclean  clean, and remove .venv and var/ (the local database!)"

$(PY):
	@echo "==> creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	@echo "==> installing the project into $(VENV)"
	@$(PIP) install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	@echo "==> installing the project with its dev dependencies into $(VENV)"
	@$(PIP) install --quiet -e ".[dev]"
	@touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	@echo "==> migrating"
	@$(MANAGE) migrate --noinput
	@echo "==> loading the seed data"
	@$(MANAGE) seed
	@if $(IS_DEBUG); then \
		echo "==> demo accounts (debug mode)"; $(MANAGE) demo_accounts; \
		if [ "$(DEMO_DATA)" != "0" ]; then \
			echo "==> demo reports on a fresh instance ($(DEMO_DAYS) days; DEMO_DATA=0 skips)"; \
			$(MANAGE) demo_data --days $(DEMO_DAYS) --if-empty \
				|| echo "==> demo reports failed (see above); serving anyway"; \
		fi; \
	else \
		echo "==> collecting static files"; $(MANAGE) collectstatic --noinput --verbosity 0; \
	fi
	@if $(IS_DEBUG); then web=web; else web=web-production; fi; \
	echo "==> serving http://127.0.0.1:$(PORT) ($$web, worker, beat); Ctrl-C stops all"; \
	VENV_PYTHON=$(PY) exec $(HONCHO) start --procfile Procfile --port $(PORT) $$web worker beat

# Both databases run even when the first fails; the target fails if either did.
# pytest's exit code 5 (no tests collected) is a failure too, and says so.
test: $(DEV_STAMP)
	@status=0; \
	for db in sqlite postgres; do \
		echo "==> the suite on $$db"; \
		start=$$(date +%s); \
		$(PY) -m pytest --database $$db $(XDIST) $(PYTEST_ARGS); code=$$?; \
		echo "==> $$db: exit code $$code in $$(( $$(date +%s) - start )) s"; \
		if [ $$code -eq 5 ]; then echo "==> $$db: no tests were collected: that is a failure"; fi; \
		if [ $$code -ne 0 ]; then status=1; fi; \
	done; \
	if [ $$status -ne 0 ]; then echo "==> make test: FAILED"; else echo "==> make test: passed on SQLite and PostgreSQL"; fi; \
	exit $$status

test-sqlite test-postgres: $(DEV_STAMP)
	$(PY) -m pytest --database $(@:test-%=%) $(XDIST) $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(DEV_STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Benchmarks run on a database of their own (var/bench/), migrated and seeded first, so they
# never touch the center's data.
BENCH_DB ?= var/bench/bench.sqlite3

# The PostgreSQL benchmarks (summary_compile) run on a throwaway server of their own (the
# tests' tests/servers.py, folder under BENCH_PG_DIR, deleted at the end): a fresh database
# each run, since nothing is ever deleted. `make bench` runs them after the SQLite ones when
# ARGS is empty or names summary_compile, e.g.
# `make bench ARGS="summary_compile --day-reports 1000 --totals 10000,100000"`.
BENCH_PG_DIR ?= var/bench/pg
BENCH_PG_ARGS ?= summary_compile changes_feed

bench: $(RUN_STAMP)
	@mkdir -p $(dir $(BENCH_DB))
	@echo "==> preparing the benchmark database $(BENCH_DB)"
	@SQLITE_PATH=$(BENCH_DB) $(MANAGE) migrate --noinput --verbosity 0
	@SQLITE_PATH=$(BENCH_DB) $(MANAGE) seed > /dev/null
	SQLITE_PATH=$(BENCH_DB) $(MANAGE) bench $(ARGS)
	@case " $(strip $(ARGS)) " in \
		"  ") $(MAKE) --no-print-directory bench-postgres ;; \
		*" summary_compile "*|*" changes_feed "*) $(MAKE) --no-print-directory bench-postgres BENCH_PG_ARGS="$(ARGS)" ;; \
	esac

bench-postgres: $(RUN_STAMP)
	@mkdir -p $(BENCH_PG_DIR)
	@echo "==> a throwaway PostgreSQL server under $(BENCH_PG_DIR): migrate, seed, bench $(BENCH_PG_ARGS)"
	TMPDIR=$(abspath $(BENCH_PG_DIR)) $(PY) -m tests.servers postgres -- sh -c '\
		$(MANAGE) migrate --noinput --verbosity 0 && $(MANAGE) seed > /dev/null && \
		$(MANAGE) bench $(BENCH_PG_ARGS)'

# The load test (tests/load/, docs/benchmarks.md#load-test): a throwaway production-shaped
# stack per database (tests/stack.py), observers filing through the web forms and partner
# tools through the API, then every accepted report looked up in the database. Both
# databases run even when the first fails; non-zero on any loss, 5xx or "database is locked".
# LOAD_ARGS goes to `python -m tests.load` (--observers 80 --think 0.5-2 --keep; see --help).
LOAD_DURATION ?= 120
LOAD_ARGS ?=

loadtest: $(DEV_STAMP)
	@status=0; \
	for db in postgres sqlite; do \
		$(PY) -m tests.load --database $$db --duration $(LOAD_DURATION) $(LOAD_ARGS) || status=1; \
	done; \
	if [ $$status -ne 0 ]; then echo "==> make loadtest: FAILED"; else echo "==> make loadtest: passed on PostgreSQL and SQLite"; fi; \
	exit $$status

# The fault runs (issue 6, docs/benchmarks.md#fault-runs): every test marked `faults`, on
# PostgreSQL then SQLite as `make test` runs the suite (the load-under-fault tests of
# tests/faults/ bring a stack of their own and run in the PostgreSQL pass only), one process
# each (no xdist: the stacks' timings are the figures). Then a pass/fail line per fault with
# its figures (tests/faults/summary.py); non-zero on any failure. FAULTS_LOAD=large: the load
# faults with 50 observers + 4 partner tools for 120 s. FAULTS_ARGS goes to pytest.
FAULTS_LOAD ?= small
FAULTS_ARGS ?=
FAULTS_DIR ?= var/faults

faults: $(DEV_STAMP)
	@mkdir -p $(FAULTS_DIR) && rm -f $(FAULTS_DIR)/postgres.xml $(FAULTS_DIR)/sqlite.xml
	@status=0; \
	for db in postgres sqlite; do \
		echo "==> fault runs on $$db"; \
		start=$$(date +%s); \
		CEASEFIRE_FAULTS_LOAD=$(FAULTS_LOAD) $(PY) -m pytest --database $$db -m faults -n 0 \
			-o junit_family=xunit1 --junitxml=$(FAULTS_DIR)/$$db.xml $(FAULTS_ARGS); code=$$?; \
		echo "==> $$db: exit code $$code in $$(( $$(date +%s) - start )) s"; \
		if [ $$code -ne 0 ]; then status=1; fi; \
	done; \
	$(PY) -m tests.faults.summary $(FAULTS_DIR)/postgres.xml $(FAULTS_DIR)/sqlite.xml || status=1; \
	exit $$status

clean:
	rm -rf .pytest_cache .ruff_cache staticfiles *.egg-info build
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) var

# The two commands of the README:
#   make demo   set up a virtualenv, migrate SQLite, load demo data, serve on 127.0.0.1:8000
#   make test   run the whole test suite (DATABASE_URL=postgres://… to run it on PostgreSQL)
# and, not run by CI:
#   make bench  the benchmark on PostgreSQL (docs/performance.md; BENCH_ARGS="--calls 1000000")
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test lint types install setup bench

# The locks (requirements.txt, requirements-dev.txt: every package pinned, with hashes) are
# made from the .in files by pip-compile; README, "Adding a dependency".
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# A random SECRET_KEY, made once per checkout and kept out of git.
.env:
	printf 'SECRET_KEY=%s\n' "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env

setup: $(STAMP) .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

demo: setup
	$(BIN)/python manage.py demo
	$(BIN)/gunicorn --config gunicorn.conf.py callportal.wsgi

serve: setup
	$(BIN)/gunicorn --config gunicorn.conf.py callportal.wsgi

# axe-core, which the accessibility browser test injects into pages (package-lock.json).
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

test: $(STAMP) node_modules/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy with django-stubs (pyproject.toml, [tool.mypy]); its Django plugin loads the settings,
# which need a SECRET_KEY: a throw-away one unless the environment or .env has one.
types: $(STAMP)
	SECRET_KEY="$${SECRET_KEY:-type-checking-only}" $(BIN)/mypy .

# Needs PostgreSQL on 127.0.0.1:5432 and wrk (apt-get install wrk); see docs/performance.md.
bench: $(STAMP)
	cd bench && ../$(BIN)/python run.py $(BENCH_ARGS)

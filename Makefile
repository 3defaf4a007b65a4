# The two commands a newcomer needs: `make run` (demo city on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5000

.PHONY: run test fuzz setup chromium redis-server static translations messages lint format bench clean-db

run: setup  ## Start the system on SQLite with the demo city; prints the URL.
	$(BIN)/flask --app wsgi start --port $(PORT)

test: setup chromium redis-server  ## Run the whole test suite (against DATABASE_URL / REDIS_URL when set).
	$(BIN)/pytest -q

# The API fuzzing at length: fresh random inputs on every run (the suite runs a bounded,
# reproducible one). FUZZ_EXAMPLES=… for more or fewer examples per operation.
FUZZ_EXAMPLES ?= 1000
fuzz: setup  ## Fuzz the whole HTTP API from its OpenAPI description (schemathesis).
	FUZZ_RANDOM=1 FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider tests/test_api_fuzz.py

setup: $(STAMP) static translations

# Browser tests drive Debian's Chromium (Playwright's own browser download is not possible here).
chromium:
	@[ -x /usr/bin/chromium ] || (apt-get update -qq && apt-get install -y -qq chromium)

# The job tests start throwaway Redis servers of their own (so they can stop them mid-test).
redis-server:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Front-end libraries from the npm registry at pinned versions, served from our static/.
static: static/vendor/.installed
static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	rm -rf static/vendor && mkdir -p static/vendor/leaflet static/vendor/swagger-ui
	cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css \
	      node_modules/leaflet/dist/images static/vendor/leaflet/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
	   static/vendor/swagger-ui/
	mkdir -p static/vendor/leaflet.markercluster
	cp node_modules/leaflet.markercluster/dist/leaflet.markercluster.js \
	   node_modules/leaflet.markercluster/dist/MarkerCluster.css \
	   node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css static/vendor/leaflet.markercluster/
	mkdir -p static/vendor/echarts
	cp node_modules/echarts/dist/echarts.min.js static/vendor/echarts/
	touch $@

translations: $(STAMP)
	$(BIN)/pybabel -q compile -d translations

messages: $(STAMP)  ## Re-extract UI strings and update the catalogues.
	$(BIN)/pybabel extract -F babel.cfg -k _l --ignore-dirs=".venv node_modules" -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup  ## Benchmarks; results in bench/results/*.json (see bench/README.md).
	$(BIN)/python -m bench.locate_bench
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.intake_bench
	$(BIN)/python -m bench.sla_bench
	$(BIN)/python -m bench.supervisor_bench
	$(BIN)/python -m bench.hotline_bench
	$(BIN)/python -m bench.inspector_bench

clean-db:
	rm -f instance/dispatch.sqlite3*

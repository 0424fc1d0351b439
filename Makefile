# creditflow: two commands do everything on a fresh machine. `make run` runs the stack, `make test` the tests.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run demo test chaos scale mutation bench bench-replay bench-credentials bench-store up down status contract lock

setup: ## Idempotent: virtualenv, Kafka jars, FerretDB binary (cached; seconds when nothing changed)
	@bash deploy/local/setup.sh

run: setup ## Kafka + FerretDB + the four services and the console (http://127.0.0.1:8105) as processes; Ctrl-C stops everything. CLUSTER=3: three KRaft nodes; INSTANCES=2: two processes per service (docs/operations.md)
	@CREDITFLOW_KAFKA_BROKERS=$(or $(CLUSTER),1) CREDITFLOW_INSTANCES=$(or $(INSTANCES),1) $(PY) deploy/local/run.py

demo: setup ## With `make run` going: seed five institutions, programmes, policies, LEARNERS (1000) learners, every recognition outcome, completed certificates
	@$(PY) -m creditflow.cli.demo --learners $(or $(LEARNERS),1000)

test: setup ## The whole suite on real servers, started for the session unless CREDITFLOW_KAFKA_BOOTSTRAP / CREDITFLOW_MONGODB_URL point elsewhere
	@$(PY) -m pytest $(PYTEST_ARGS)

chaos: setup ## The fault matrix against a three-broker cluster started for it; writes docs/reliability.md (not in make test)
	@CREDITFLOW_CHAOS=1 CREDITFLOW_KAFKA_BROKERS=3 $(PY) -m pytest tests/chaos $(PYTEST_ARGS)

scale: setup ## Only the scale-out measurement of make chaos (1, 2, 3 instances of learner-record and stacking); writes the Scale-out table of docs/benchmarks.md
	@CREDITFLOW_CHAOS=1 CREDITFLOW_KAFKA_BROKERS=3 $(PY) -m pytest tests/chaos/test_scale.py $(PYTEST_ARGS)

mutation: setup ## Mutation testing of the pure domain modules against their unit tests (not part of make test; see docs/testing.md)
	@$(PY) deploy/local/mutation.py

bench: setup ## The pipeline over HTTP (AWARDS=500 per level, 1 and 16 clients), the projection vs a raw baseline (EVENTS=100000), the cost of a proof; writes docs/benchmarks.md
	@started=$$(date +%s) && \
	$(PY) shared/bench/pipeline.py --awards $(or $(AWARDS),500) && \
	$(PY) services/learner-record/bench/projection.py --events $(or $(EVENTS),100000) && \
	$(PY) services/issuer/bench/credentials.py && \
	$(PY) shared/bench/report.py --started $$started

bench-replay: setup ## `creditflow replay` of REPLAY_EVENTS (1000000) awards without proofs, then SIGNED_EVENTS (2000) with signed credentials; `make bench` reports both
	@$(PY) services/learner-record/bench/replay.py --events $(or $(REPLAY_EVENTS),1000000) --proofs none
	@$(PY) services/learner-record/bench/replay.py --events $(or $(SIGNED_EVENTS),2000) --proofs signed

bench-credentials: setup ## Cost of signing and verifying one award per format (Data Integrity, OB 3.0 JWT, VC-JOSE)
	@$(PY) services/issuer/bench/credentials.py

bench-store: setup ## Store micro-benchmark, patched vs upstream FerretDB (COUNTS=1000,10000 SIZES=2000,25000); prints a table
	@$(PY) shared/bench/store.py --counts $(or $(COUNTS),1000,10000) --sizes $(or $(SIZES),2000,25000)

up: setup ## Only the servers, left running (stop with `make down`)
	@$(PY) deploy/local/stack.py start

down: ## Stop the servers that `make up` started
	@$(PY) deploy/local/stack.py stop

status:
	@$(PY) deploy/local/stack.py status

contract: setup ## Regenerate the committed JSON Schemas of the events and docs/asyncapi.json
	@$(PY) -m creditflow.events.generate --asyncapi docs/asyncapi.json

lock: ## Re-pin constraints.txt after changing a dependency
	@bash deploy/local/lock.sh

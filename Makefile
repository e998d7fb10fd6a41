# trendstream — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
PROTOC ?= protoc
# Short fuzz run of the frame decoder, part of `make test`.
FUZZTIME ?= 10s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Debian packages the system and its tests use; `make deps` installs the
# missing ones (as root, with apt), so `make run` and `make test` work on a
# fresh machine. Java and Maven run the real Kafka broker (deploy/kafka),
# pip fetches Flink for the local cluster (flink/cluster).
.PHONY: deps
deps: ## install missing Debian packages for run and test (root + apt only)
	@bash -c 'need=(); \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql); \
	  command -v kcat >/dev/null || need+=(kcat); \
	  command -v protoc >/dev/null || need+=(protobuf-compiler); \
	  [ -f /usr/include/google/protobuf/timestamp.proto ] || need+=(libprotobuf-dev); \
	  command -v chromium >/dev/null || need+=(chromium); \
	  command -v npm >/dev/null || need+=(npm); \
	  command -v java >/dev/null || need+=(openjdk-17-jdk-headless); \
	  command -v mvn >/dev/null || need+=(maven); \
	  python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip); \
	  if [ $${#need[@]} -eq 0 ]; then exit 0; fi; \
	  if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	    echo "missing: $${need[*]} — install them with your package manager"; exit 1; fi; \
	  echo "installing $${need[*]}"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$${need[@]}"'

.PHONY: run
run: ## run the whole system in one process on the embedded default (live Bluesky firehose)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "$$DATABASE_URL" ] || $(MAKE) deps
	$(GO) run ./cmd/trendstream run $(ARGS)

.PHONY: test
test: deps ## run all tests (installs missing Debian packages first: see deps)
	$(GO) test -count=1 -timeout 25m ./...
	$(MAKE) fuzz-short

.PHONY: fuzz-short
fuzz-short: ## short fuzz run of the firehose frame decoder
	@if [ -d ingest/frame ]; then $(GO) test -run '^$$' -fuzz '^FuzzDecodeFrame$$' -fuzztime $(FUZZTIME) ./ingest/frame; fi

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

.PHONY: bench
bench: ## run benchmarks (results are recorded in BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

# The pictures of the dashboard in docs/ are of a replay of the bundled real
# posts, nothing planted (TestDashboardOfRealReplay, docs/api.md).
.PHONY: screenshots
screenshots: ## rewrite docs/dashboard.png, timeline.png, topics.png, topic-page.png, term-page.png from a replay of real posts (needs chromium)
	UPDATE_SCREENSHOT=1 $(GO) test -count=1 -timeout 15m -v -run '^TestDashboardOfRealReplay$$' ./pipelines/trending/

.PHONY: eval
eval: ## trend-quality evaluation: replay real posts + injected bursts through the pipeline on Prism; writes EVAL.md (ARGS for flags)
	$(GO) run ./cmd/trendeval $(ARGS)

.PHONY: proto
proto: ## regenerate Go code from proto/ (needs protoc: apt-get install protobuf-compiler)
	$(PROTOC) -I proto --plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
	  --go_out=proto --go_opt=paths=source_relative proto/trendstream/v1/*.proto

.PHONY: proto-check
proto-check: ## fail if the committed generated code differs from what protoc makes
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(PROTOC) -I proto --plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
	  --go_out=$$tmp --go_opt=paths=source_relative proto/trendstream/v1/*.proto && \
	for f in $$tmp/trendstream/v1/*.pb.go; do diff -u proto/trendstream/v1/$$(basename $$f) $$f || { echo "generated code is stale: run make proto"; exit 1; }; done

# Docker Compose stack and Flink submission (docs/production.md).
COMPOSE ?= docker compose
# Add "-f flink/compose.scale.yml" for a second taskmanager.
COMPOSE_FILES ?= -f docker-compose.yml
JOB_NAME ?= trendstream-trending
PARALLELISM ?= 2
START ?= committed
# A savepoint to restore the submitted job from (flink/jobs.sh stop prints it).
SAVEPOINT ?=

.PHONY: up
up: ## start the production-like stack with Docker Compose, wait until healthy
	$(COMPOSE) $(COMPOSE_FILES) up -d --build --wait --wait-timeout 600
	@echo "up: Flink http://localhost:8081  API http://localhost:8080  Grafana http://localhost:3000  Prometheus http://localhost:9090"

.PHONY: down
down: ## stop the Docker Compose stack (named volumes are kept)
	$(COMPOSE) $(COMPOSE_FILES) --profile submit down

.PHONY: submit
submit: ## build the pipeline binary and submit it to Flink (JOB_NAME, PARALLELISM, START, SAVEPOINT)
	COMPOSE="$(COMPOSE) $(COMPOSE_FILES)" GO="$(GO)" JOB_NAME="$(JOB_NAME)" PARALLELISM="$(PARALLELISM)" START="$(START)" SAVEPOINT="$(SAVEPOINT)" \
	  bash flink/submit.sh

.PHONY: cancel
cancel: ## cancel the pipeline job running on Flink (JOB_NAME)
	bash flink/jobs.sh cancel "$(JOB_NAME)"

.PHONY: stop
stop: ## stop the pipeline job on Flink with a savepoint (JOB_NAME) and print its path; make submit SAVEPOINT=<path> goes on from it
	bash flink/jobs.sh stop "$(JOB_NAME)"

.PHONY: logs
logs: ## follow the Docker Compose stack's logs (SERVICE=<name> for one)
	$(COMPOSE) $(COMPOSE_FILES) logs -f $(SERVICE)

# Local Flink session cluster without Docker (docs/local-cluster.md): Flink
# from PyPI, Beam's Flink job server, Beam's Go worker pool, Kafka
# (deploy/kafka/broker.sh), as processes on 127.0.0.1.
.PHONY: cluster-fetch
cluster-fetch: ## download and verify Flink 1.19.3, resolve Beam's Flink job server (2.62.0) with Maven, build Beam's Go boot program
	GO="$(GO)" bash flink/cluster/cluster.sh fetch

.PHONY: cluster-up
cluster-up: ## start the local Flink cluster (web UI 127.0.0.1:8081), job server, Go worker pool and Kafka, no Docker
	GO="$(GO)" bash flink/cluster/cluster.sh up

.PHONY: cluster-down
cluster-down: ## stop everything cluster-up started
	bash flink/cluster/cluster.sh down

.PHONY: cluster-submit
cluster-submit: ## build the pipeline and submit it to the local cluster (JOB_NAME, PARALLELISM, START, SAVEPOINT; PIPELINE_DATABASE_URL or DATABASE_URL)
	TARGET=local GO="$(GO)" JOB_NAME="$(JOB_NAME)" PARALLELISM="$(PARALLELISM)" START="$(START)" SAVEPOINT="$(SAVEPOINT)" bash flink/submit.sh

.PHONY: cluster-cancel
cluster-cancel: ## cancel the pipeline job on the local cluster (JOB_NAME); resubmit with START=committed to resume
	bash flink/jobs.sh cancel "$(JOB_NAME)"

.PHONY: cluster-stop
cluster-stop: ## stop the pipeline job on the local cluster with a savepoint (JOB_NAME) and print its path; resubmit with SAVEPOINT=<path> to go on from it
	bash flink/jobs.sh stop "$(JOB_NAME)"

.PHONY: cluster-status
cluster-status: ## show what of the local cluster runs
	@bash flink/cluster/cluster.sh status || true

# Real Apache Kafka broker from Maven jars (docs/kafka-local.md). Tests fetch
# the jars themselves when missing; this target fetches them up front.
.PHONY: kafka-fetch
kafka-fetch: ## download and verify the pinned Kafka jars for the real test broker (needs java, mvn)
	bash deploy/kafka/broker.sh fetch

# Live soak of `trendstream run` (docs/soak.md): production windows at 50
# posts/s for 30 minutes by default; e.g. ARGS='-rate 500 -out soak-500.md'.
.PHONY: soak
soak: ## live soak: run against a local Jetstream-like stream, measure window delays, RSS, CPU (ARGS for flags)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "$$TRENDSTREAM_DATABASE_URL" ] || $(MAKE) deps
	$(GO) run ./cmd/trendsoak $(ARGS)

# Chaos test of the whole system (docs/chaos.md): a live-like local source
# through a fault proxy into the ingest, a real Kafka broker, the pipeline on
# Prism and PostgreSQL, under a seeded schedule of faults; every post and
# window is checked against the source and the single-process reference.
# 15 minutes by default; e.g. ARGS='-seed 7 -duration 30m'.
.PHONY: chaos
chaos: ## chaos test: faults against the whole system, checked post by post and window by window; rewrites RELIABILITY.md (ARGS for flags)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || $(MAKE) deps
	$(GO) run ./cmd/trendchaos -out RELIABILITY.md $(ARGS)

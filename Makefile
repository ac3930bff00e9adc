# Satchel: two commands on a fresh Debian/Ubuntu machine with Swift.
#   make test   install what is missing, build, run the whole suite
#   make run    install what is missing, then run the main job
SWIFT ?= swift

.PHONY: deps build test sim run cluster check-cluster bench clean

deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Plain `swift test` (not --parallel) prints both XCTest's and Swift Testing's closing lines.
# The PostgreSQL backend's tests run against a throwaway server of their own; run-tests.sh runs
# the suites that check timing after the rest, on their own. Then openapi.yaml against a strict
# validator and, with schemathesis, against a live server (a couple of minutes).
test: deps
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) ./scripts/with-postgres.sh ./scripts/run-tests.sh
	SATCHEL_BIN=$$($(SWIFT) build --show-bin-path) ./scripts/check-openapi.sh

# The deterministic simulation's long sweep in a release build: 2,000 seeds, each run twice
# (`make sim SEEDS=5000` for more; `satchel-sim --seed N --trace` replays one).
SEEDS ?= 2000
sim: deps
	$(SWIFT) build -c release --product satchel-sim
	$$($(SWIFT) build -c release --show-bin-path)/satchel-sim --seeds $(SEEDS)

# The main job: the sync server on the embedded SQLite default in ./satchel-data, with the
# briefing loaded (only changes are applied on later runs), a space, a user and a fresh
# enrollment code printed for a first device.
DATA ?= ./satchel-data
PORT ?= 8080
run: deps
	$(SWIFT) build --product satchel-server
	$$($(SWIFT) build --show-bin-path)/satchel-server briefing load Data/china-briefing.json --data $(DATA)
	$$($(SWIFT) build --show-bin-path)/satchel-server quickstart --data $(DATA) --url http://127.0.0.1:$(PORT)
	exec $$($(SWIFT) build --show-bin-path)/satchel-server serve --data $(DATA) --port $(PORT)

# A cluster on one machine until Ctrl-C: PostgreSQL in $(CLUSTER)/postgres (kept between runs),
# three servers on ports PORT+1..PORT+3 sharing it, nginx in front on PORT (WebSocket proxying
# for live sync), the briefing loaded and a code for a first device printed. PostgreSQL listens
# on PORT+4. `make cluster CLUSTER=/some/dir PORT=9000` changes where.
CLUSTER ?= ./satchel-cluster
cluster:
	@./scripts/install-deps.sh nginx
	$(SWIFT) build --product satchel-server
	$(SWIFT) build --product satchel
	CLUSTER_DIR=$(CLUSTER) PORT=$(PORT) SATCHEL_BIN=$$($(SWIFT) build --show-bin-path) ./scripts/cluster.sh

# The cluster's smoke check (CI runs it): a cluster in a temporary folder on free ports, two
# devices syncing through nginx, live sync, a server killed, then Ctrl-C leaving nothing behind.
check-cluster:
	@./scripts/install-deps.sh nginx
	$(SWIFT) build --product satchel-server
	$(SWIFT) build --product satchel
	SATCHEL_BIN=$$($(SWIFT) build --show-bin-path) ./scripts/check-cluster.sh

# Every benchmark phase against the real server and client, beside baselines from the same run;
# writes BENCHMARKS.md (about ten minutes on 2 cores, plus a release build).
bench: deps
	$(SWIFT) build -c release --product satchel-bench
	$$($(SWIFT) build -c release --show-bin-path)/satchel-bench codec
	./scripts/with-postgres.sh $$($(SWIFT) build -c release --show-bin-path)/satchel-bench all --out BENCHMARKS.md

clean:
	rm -rf .build

# Satchel: two commands on a fresh Debian/Ubuntu machine with Swift.
#   make test   install what is missing, build, run the whole suite
#   make run    install what is missing, then run the main job
SWIFT ?= swift

.PHONY: deps build test sim run bench clean

deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Plain `swift test` (not --parallel) prints both XCTest's and Swift Testing's closing lines.
# The PostgreSQL backend's tests run against a throwaway server of their own.
test: deps
	$(SWIFT) build --build-tests
	./scripts/with-postgres.sh $(SWIFT) test --skip-build

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

# Every benchmark phase against the real server and client, beside baselines from the same run;
# writes BENCHMARKS.md (about ten minutes on 2 cores, plus a release build).
bench: deps
	$(SWIFT) build -c release --product satchel-bench
	$$($(SWIFT) build -c release --show-bin-path)/satchel-bench codec
	./scripts/with-postgres.sh $$($(SWIFT) build -c release --show-bin-path)/satchel-bench all --out BENCHMARKS.md

clean:
	rm -rf .build

# Satchel: two commands on a fresh Debian/Ubuntu machine with Swift.
#   make test   install what is missing, build, run the whole suite
#   make run    install what is missing, then run the main job
SWIFT ?= swift

.PHONY: deps build test run bench clean

deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Plain `swift test` (not --parallel) prints both XCTest's and Swift Testing's closing lines.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

run: deps
	$(SWIFT) run satchel-bench codec

bench: deps
	$(SWIFT) run -c release satchel-bench codec

clean:
	rm -rf .build

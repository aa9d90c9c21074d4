# tablepub: top-level build. `make test` and `make demo` work on a fresh
# Debian 12 machine as root: they install what is missing first.

PG_CONFIG ?= $(shell command -v pg_config >/dev/null 2>&1 && echo pg_config || echo /usr/lib/postgresql/15/bin/pg_config)
BUILD     ?= build
CMAKE_BUILD_TYPE ?= RelWithDebInfo
JOBS      ?= $(shell nproc)

# Debian packages the build, the tests and the demo need.
DEB_PACKAGES = build-essential cmake pkg-config python3 \
	postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev \
	libzmq3-dev cppzmq-dev libprotobuf-dev protobuf-compiler \
	libprotobuf-c-dev protobuf-c-compiler \
	libgtest-dev libspdlog-dev libcli11-dev nlohmann-json3-dev \
	python3-zmq python3-protobuf

.PHONY: all deps extension relay install test test-extension test-relay test-python test-torture torture demo bench clean

all: extension relay

# Installs only the packages that are missing (one apt-get update, once).
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		[ "$$(id -u)" = 0 ] || { echo "make deps: run as root to install:" $$missing >&2; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

extension:
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG)

relay:
	cmake -S relay -B $(BUILD)/relay -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE)
	cmake --build $(BUILD)/relay -j $(JOBS)

install: all
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	cmake --install $(BUILD)/relay --prefix /usr/local

test: deps
	$(MAKE) all
	$(MAKE) test-extension
	$(MAKE) test-relay
	$(MAKE) test-python
	$(MAKE) test-consistency
	$(MAKE) test-torture
	@echo "all tests passed"

.PHONY: test-consistency
test-consistency: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/consistency/run_all.sh $(BUILD)

# The fault-injection scenarios (tests/torture): once each with seed 1 in
# `make test`; `make torture` runs rounds of them with seeds 1, 2, ... for
# TORTURE_MINUTES and prints scenario x runs x result.
TORTURE_MINUTES ?= 30
test-torture: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/torture/run.sh --once 1 $(BUILD)

torture: deps
	$(MAKE) all
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/torture/run.sh --minutes $(TORTURE_MINUTES) $(BUILD)

test-extension: extension
	extension/test/run.sh

test-relay: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	ctest --test-dir $(BUILD)/relay --output-on-failure -j 1

test-python: relay
	clients/python/run_tests.sh $(BUILD)

demo: deps
	$(MAKE) all
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/demo/run.sh $(BUILD)

bench: deps
	$(MAKE) all
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	bench/run_all.sh $(BUILD)

clean:
	-$(MAKE) -C extension clean
	rm -rf $(BUILD)

# tablepub: top-level build. `make test` and `make demo` work on a fresh
# Debian 12 machine as root: they install what is missing first.

PG_CONFIG ?= $(shell command -v pg_config >/dev/null 2>&1 && echo pg_config || echo /usr/lib/postgresql/15/bin/pg_config)
BUILD     ?= build
CMAKE_BUILD_TYPE ?= RelWithDebInfo
JOBS      ?= $(shell nproc)
PREFIX    ?= /usr/local

# Debian packages the build, the tests and the demo need.
DEB_PACKAGES = build-essential cmake pkg-config python3 \
	postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev \
	libzmq3-dev cppzmq-dev libprotobuf-dev protobuf-compiler \
	libprotobuf-c-dev protobuf-c-compiler \
	libgtest-dev libspdlog-dev libcli11-dev nlohmann-json3-dev \
	python3-zmq python3-protobuf clang libclang-rt-14-dev clang-format \
	python3-nova python3-psycopg2 \
	prometheus-cpp-dev libcpp-httplib-dev libsystemd-dev prometheus systemd \
	librabbitmq-dev rabbitmq-server python3-oslo.messaging python3-amqp python3-kombu \
	python3-venv python3-pip python3-setuptools python3-wheel

.PHONY: all deps bench-deps extension relay install test test-extension test-relay test-python test-torture torture sanitize test-sanitize demo bench clean \
	fuzz fuzz-build fuzz-build-relay fuzz-build-extension test-fuzz test-amqp test-amqp-short

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

# The C++ components (relay, libtablepub, tools, bench tools): one CMake
# project at the top, built into $(BUILD); programs land in $(BUILD)/bin.
relay:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE)
	cmake --build $(BUILD) -j $(JOBS)

install: all
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	cmake --install $(BUILD) --prefix $(PREFIX)

# Every stage prints its wall time, so that a CI log shows where the time
# goes (make test must stay under 20 minutes).
stage = @t0=$$(date +%s); $(MAKE) $(1); rc=$$?; \
	echo "== make test: $(1): $$(( $$(date +%s) - t0 )) s"; exit $$rc

test: deps
	$(call stage,format-check)
	$(call stage,all)
	$(call stage,test-extension)
	$(call stage,test-relay)
	$(call stage,test-python)
	$(call stage,test-install)
	$(call stage,test-upgrade)
	$(call stage,test-consistency)
	$(call stage,test-nova)
	$(call stage,test-ops)
	$(call stage,test-amqp-short)
	$(call stage,test-torture)
	$(call stage,test-sanitize)
	$(call stage,test-fuzz)
	@echo "all tests passed"

.PHONY: test-consistency
test-consistency: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/consistency/run_all.sh $(BUILD)

# tablepub in a real Nova database (Debian's python3-nova), written by Nova's
# own code, upgraded from its initial schema revision while published
# (tests/nova/run.sh; about 50 s).
.PHONY: test-nova
test-nova: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/nova/run.sh 1 $(BUILD)

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

# Upgrade from the released 0.2 (extension and relay built from git history
# into $(BUILD)/upgrade-0.2 once: about 70 s of CPU) to this tree under
# writes, a subscriber following throughout (tests/upgrade/run.sh, about
# 10 s; docs/operations.md, "Upgrading").
.PHONY: test-upgrade
test-upgrade: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/upgrade/run.sh $(BUILD)

# The systemd unit (systemd-analyze) and a real Prometheus scraping the
# relay's --metrics (tests/ops, about 20 s).
.PHONY: test-ops
test-ops: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/ops/run.sh $(BUILD)

# --- Debian packages (packaging/debian): postgresql-15-tablepub,
# tablepub-relay, libtablepub-dev, python3-tablepub, built with debhelper and pg_buildext in
# a copy of the tree under $(DEB_BUILD); lintian must report no error.
# `make test-deb` installs them on this machine, checks CREATE EXTENSION
# and a relay publishing a change, and purges them (tests/ops/deb_test.sh).
DEB_BUILD ?= $(BUILD)/deb
DEB_TOOLS = debhelper dh-python lintian postgresql-server-dev-all python3-all
.PHONY: deb test-deb
deb: deps
	$(MAKE) deps DEB_PACKAGES="$(DEB_TOOLS)"
	rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)/tablepub
	git ls-files -z --cached --others --exclude-standard | grep -zv '^build/' \
		| tar -c --null -T - -f - | tar -x -C $(DEB_BUILD)/tablepub
	cp -r packaging/debian $(DEB_BUILD)/tablepub/debian
	cd $(DEB_BUILD)/tablepub && dpkg-buildpackage -b -us -uc -j$(JOBS)
	lintian --fail-on error $(DEB_BUILD)/*.changes

test-deb: deb
	tests/ops/deb_test.sh $(DEB_BUILD)
# The RabbitMQ sink against a real broker (tests/amqp/run.sh): `make test`
# runs the short part (a consumer, the Python client through a relay
# kill -9, and an oslo.messaging listener mirror their tables, about 30 s);
# test-amqp adds a relay kill -9 and a broker restart under writes (about
# 2 min).
test-amqp-short: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/amqp/run.sh --short $(BUILD)

test-amqp: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/amqp/run.sh $(BUILD)

test-extension: extension
	extension/test/run.sh

test-relay: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	ctest --test-dir $(BUILD) --output-on-failure -j 1

# From the source tree, then installed with pip into a fresh venv (unit and
# integration tests again from there).
test-python: relay
	clients/python/run_tests.sh $(BUILD)
	clients/python/install_test.sh $(BUILD)

# The C++ library installed into a temporary prefix, used by a program
# outside the build with find_package(tablepub) and with pkg-config
# (tests/install/run.sh; about 15 s once built).
.PHONY: test-install
test-install: relay
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/install/run.sh $(BUILD)

# --- Sanitizers and fuzzing share one build dir, $(SANITIZE_BUILD): clang++
# with -DTABLEPUB_FUZZ=ON, i.e. AddressSanitizer and UBSan in every target
# and libFuzzer's coverage instrumentation in every library, so that
# `make test` compiles the tree once for test-sanitize and test-fuzz (a g++
# sanitizer build beside a clang++ fuzz build compiled the libraries twice,
# about 90 s of make test). Any report fails the test (UBSan is built not to recover;
# LeakSanitizer is on); the tests do not link libFuzzer, its coverage
# callbacks are the sanitizer runtime's no-ops there.
SANITIZE_BUILD ?= $(BUILD)/sanitize
SANITIZE_CXX ?= clang++
SANITIZE_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# ctest selection (-R/-E/-L). The abuse and bus-security suites are not
# built here (they run in test-relay); the integration tests that ASan makes
# meaningless or too slow are left out by TABLEPUB_SANITIZE_SKIP
# (tests/harness/cluster_suites.cmake).
SANITIZE_TARGETS = common_unit_tests relay_unit_tests relay_integration_tests tablepub_sync_tests \
	tablepub_sync_integration_tests tablepub_client_tests tablepub_tail_tests tablepub_client_integration_tests
SANITIZE_TESTS ?= -E 'SyncAbuse|relay_security_tests|NOT_BUILT'

# `make sanitize`: all of them. `make test` runs the unit tests only (the
# integration tests under ASan took about 3 of make test's 20 minutes; the
# code they add to the unit tests' is covered by the fuzzers and by
# `make sanitize`).
SANITIZE_UNIT_TARGETS = common_unit_tests relay_unit_tests tablepub_sync_tests tablepub_client_tests \
	tablepub_tail_tests

.PHONY: sanitize-configure
sanitize-configure:
	cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_CXX_COMPILER=$(SANITIZE_CXX) -DTABLEPUB_FUZZ=ON

sanitize: sanitize-configure
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	cmake --build $(SANITIZE_BUILD) -j $(JOBS) --target $(SANITIZE_TARGETS)
	$(SANITIZE_ENV) ctest --test-dir $(SANITIZE_BUILD) --output-on-failure -j 1 $(SANITIZE_TESTS)

test-sanitize: sanitize-configure
	cmake --build $(SANITIZE_BUILD) -j $(JOBS) --target $(SANITIZE_UNIT_TARGETS)
	$(SANITIZE_ENV) ctest --test-dir $(SANITIZE_BUILD) --output-on-failure -j 1 -LE integration $(SANITIZE_TESTS)

# --- Fuzzing (libFuzzer, in $(SANITIZE_BUILD) above). `make fuzz FUZZ_SECONDS=N`
# runs every target for N seconds; `make test` runs each for FUZZ_TEST_SECONDS.
# A target NAME has a binary FUZZ_BIN_NAME and a checked-in seed corpus
# FUZZ_CORPUS_NAME, and is built by one of FUZZ_BUILD_TARGETS. Another
# component adds its own with, e.g.:
#   FUZZ_TARGETS += decoder
#   FUZZ_BUILD_TARGETS += fuzz-build-extension
#   FUZZ_BIN_decoder = $(FUZZ_BUILD)/extension/fuzz_decoder
#   FUZZ_CORPUS_decoder = extension/fuzz/corpus
# Corpus growth goes to $(FUZZ_BUILD)/corpus/NAME (the seeds stay as they
# are), crashes to $(FUZZ_BUILD)/artifacts/NAME-*; a crash fails the run.
FUZZ_BUILD = $(SANITIZE_BUILD)
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 5
FUZZ_TARGETS = client request
FUZZ_BUILD_TARGETS = fuzz-build-relay
FUZZ_BIN_client = $(FUZZ_BUILD)/bin/fuzz_client
FUZZ_CORPUS_client = fuzz/corpus/client
FUZZ_BIN_request = $(FUZZ_BUILD)/bin/fuzz_request
FUZZ_CORPUS_request = fuzz/corpus/request
# TableSetSync, the multi-table set engine (fuzz/fuzz_tableset.cpp).
FUZZ_TARGETS += tableset
FUZZ_BIN_tableset = $(FUZZ_BUILD)/bin/fuzz_tableset
FUZZ_CORPUS_tableset = fuzz/corpus/tableset
# The splitter of packed outbox rows (fuzz/fuzz_pack.cpp).
FUZZ_TARGETS += pack
FUZZ_BIN_pack = $(FUZZ_BUILD)/bin/fuzz_pack
FUZZ_CORPUS_pack = fuzz/corpus/pack
# The extension's change decoder (extension/fuzz), a plain C harness.
FUZZ_TARGETS += decoder
FUZZ_BUILD_TARGETS += fuzz-build-extension
FUZZ_BIN_decoder = $(abspath $(FUZZ_BUILD))/extension/decode_change_fuzzer
FUZZ_CORPUS_decoder = extension/fuzz/corpus

fuzz-build-extension:
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) FUZZ_BUILD=$(abspath $(FUZZ_BUILD))/extension \
		$(abspath $(FUZZ_BUILD))/extension/decode_change_fuzzer

fuzz-build-relay: sanitize-configure
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_client fuzz_request fuzz_tableset fuzz_pack

fuzz-build: $(FUZZ_BUILD_TARGETS)

# Runs each target for $(1) seconds; prints libFuzzer's final statistics.
define run_fuzzers
	@set -e; $(foreach t,$(FUZZ_TARGETS), \
		mkdir -p $(FUZZ_BUILD)/corpus/$(t) $(FUZZ_BUILD)/artifacts; \
		echo "fuzz $(t): $(1) s"; \
		$(FUZZ_BIN_$(t)) -max_total_time=$(1) -timeout=10 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$(t)- \
			$(FUZZ_BUILD)/corpus/$(t) $(FUZZ_CORPUS_$(t)) 2>$(FUZZ_BUILD)/$(t).log \
			|| { tail -60 $(FUZZ_BUILD)/$(t).log; echo "fuzz $(t): FAILED (log: $(FUZZ_BUILD)/$(t).log)"; exit 1; }; \
		grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' $(FUZZ_BUILD)/$(t).log | tail -1; \
		grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' $(FUZZ_BUILD)/$(t).log | tr '\n' ' '; echo;)
endef

fuzz: fuzz-build
	$(call run_fuzzers,$(FUZZ_SECONDS))

test-fuzz: fuzz-build
	$(call run_fuzzers,$(FUZZ_TEST_SECONDS))

demo: deps
	$(MAKE) all
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	tests/demo/run.sh $(BUILD)

# The peers bench/peers.sh compares tablepub with, the profiler and the
# plotting library: installed by `make bench` only (make test needs none).
BENCH_PACKAGES = postgresql-15-wal2json postgresql-15-pgq3 pgqd linux-perf python3-matplotlib

bench-deps: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BENCH_PACKAGES)"

# bench/peers.sh (tablepub beside wal2json and PgQ; writes its part of
# docs/benchmarks.md and docs/img/peers.png), then the relay's own figures.
bench: bench-deps
	$(MAKE) all
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) install
	bench/peers.sh $(BUILD)
	bench/run_all.sh $(BUILD)

clean:
	-$(MAKE) -C extension clean
	rm -rf $(BUILD)

# Every C++ file formatted by .clang-format (Debian's clang-format 14).
CXX_SOURCES = git ls-files -z '*.cpp' '*.hpp' ':!:*/corpus/*'
.PHONY: format format-check
format:
	$(CXX_SOURCES) | xargs -0 clang-format -i

format-check:
	$(CXX_SOURCES) | xargs -0 clang-format --dry-run --Werror


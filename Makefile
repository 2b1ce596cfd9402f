# signgate — the two commands are `make run` and `make test`; both install what is missing first.
SHELL := /bin/bash
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
BUILD_DEV  ?= build-dev
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 600
JOBS       ?= $(shell nproc)

# Every Debian package the build, the tests and the benchmarks need.
DEB_PACKAGES := g++ cmake ninja-build pkg-config make ca-certificates openssl \
  libboost-dev libssl-dev libdeflate-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libpugixml-dev libspdlog-dev \
  libsimdjson-dev libgtest-dev libgmock-dev libbenchmark-dev python3 python3-botocore \
  clang libclang-rt-14-dev clang-format clang-tidy nginx-light wrk nghttp2-client procps \
  systemd strace util-linux mount iproute2 libnghttp2-dev python3-h2 libhiredis-dev redis-server \
  libgoogle-perftools-dev

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps npm-deps bench-deps build build-asan build-fuzz dev lint format test unit-test unit-test-asan integration-test fuzz soak run emulator install bench clean

all: build

# Installs only what is missing, so a second run costs one dpkg-query.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The JS client libraries the end-to-end tests drive (versions pinned for the machine's Node.js 20).
npm-deps: tests/e2e/node_modules/.installed tests/deploy/node_modules/.installed
tests/e2e/node_modules/.installed: tests/e2e/package.json tests/e2e/package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error
	touch $@
# The Kubernetes schema validator and the Dockerfile parser the deploy/ tests use.
tests/deploy/node_modules/.installed: tests/deploy/package.json tests/deploy/package-lock.json
	cd tests/deploy && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# The peer gateway the load harness compares against (bench/load).
bench-deps: bench/load/node_modules/.installed
bench/load/node_modules/.installed: bench/load/package.json bench/load/package-lock.json
	cd bench/load && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

$(BUILD_ASAN)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DSIGNGATE_SANITIZE=ON -DSIGNGATE_UNIT_TESTS_ONLY=ON -DSIGNGATE_BENCH=OFF

$(BUILD_FUZZ)/build.ninja: CMakeLists.txt | deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNGATE_FUZZ=ON

# The fast edit-compile loop: Debug at -O0 (ccache when installed) in $(BUILD_DEV), unit tests
# only; a one-file change rebuilds in seconds. `make dev T=Pipeline.*` runs a filter.
$(BUILD_DEV)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_DEV) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
	  -DSIGNGATE_UNIT_TESTS_ONLY=ON -DSIGNGATE_BENCH=OFF \
	  $$(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

dev: deps $(BUILD_DEV)/build.ninja
	cmake --build $(BUILD_DEV) -j $(JOBS) --target unit_tests signgate
	$(BUILD_DEV)/unit_tests --gtest_brief=1 $(if $(T),--gtest_filter='$(T)')

# The code's habits: clang-format's shape (.clang-format), the layering rule, and clang-tidy's
# checks (.clang-tidy) over src/, with the Release build's compile commands.
LINT_SOURCES = $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' 'fuzz/*.cc')
lint: build
	@/usr/bin/python3 tests/tools/check_layering.py src && echo "layering: ok"
	@clang-format --dry-run -Werror $(LINT_SOURCES) && echo "clang-format: ok"
	@git ls-files 'src/*.cc' | xargs -P $(JOBS) -n 1 clang-tidy -p $(BUILD) --quiet \
	  --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1 --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE=1 2>/dev/null \
	  | grep -E 'error:|warning:' && exit 1 || echo "clang-tidy: ok"

format:
	clang-format -i $(LINT_SOURCES)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(BUILD_ASAN)/build.ninja
	cmake --build $(BUILD_ASAN) -j $(JOBS)

build-fuzz: deps $(BUILD_FUZZ)/build.ninja
	cmake --build $(BUILD_FUZZ) -j $(JOBS)

unit-test: build
	cd $(BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

unit-test-asan: build-asan
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest -L 'unit|integration' --output-on-failure -j $(JOBS)

integration-test: build npm-deps
	cd $(BUILD) && ctest -L integration --output-on-failure

# Every test: unit and integration tests (release, with the fault-injection tests), the unit
# tests and the C++ integration tests again under ASan+UBSan, then every fuzz target for a
# few seconds on its seed corpus (clang, libFuzzer, ASan+UBSan).
test: build build-asan build-fuzz npm-deps
	@set -o pipefail; status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	(cd $(BUILD) && ctest --output-on-failure -j $(JOBS)) | tee $(BUILD)/ctest.log || status=1; \
	(cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest -L 'unit|integration' --output-on-failure -j $(JOBS)) | tee $(BUILD_ASAN)/ctest.log || status=1; \
	(cd $(BUILD_FUZZ) && ctest -L fuzz --output-on-failure -j $(JOBS)) | tee $(BUILD_FUZZ)/ctest.log || status=1; \
	suite=$$(grep -c 'AwsSuite/.*Passed' $(BUILD)/ctest.log || true); \
	echo "AWS SigV4 suite cases passed (header + query forms): $$suite"; \
	passed=$$(cat $(BUILD)/ctest.log $(BUILD_ASAN)/ctest.log $(BUILD_FUZZ)/ctest.log | grep -c ' Passed ' || true); \
	failed=$$(grep -hE '\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout|Not Run' $(BUILD)/ctest.log $(BUILD_ASAN)/ctest.log $(BUILD_FUZZ)/ctest.log | wc -l); \
	echo "$$passed passed, $$failed failed"; \
	exit $$status

# Each fuzz target for FUZZ_SECONDS (default 60) on its seeds plus what earlier runs found
# (kept in $(BUILD_FUZZ)/corpus). A crash leaves $(BUILD_FUZZ)/crash-TARGET-* and fails.
fuzz: build-fuzz
	@status=0; for t in eventstream openai_request anthropic_request converse_events json config model_path sts_xml http_server h2_frames redis_reply request_metadata; do \
	  echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  $(BUILD_FUZZ)/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(BUILD_FUZZ)/crash-$$t- $(BUILD_FUZZ)/corpus/$$t fuzz/corpus/$$t 2>&1 \
	    | grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Test unit written' ; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || status=1; \
	done; exit $$status

# Mixed traffic for SOAK_SECONDS (default 600) with credentials rotating every few seconds,
# through one replica, then through a fleet of three sharing a redis-server (limits, budgets
# and stored responses through Redis); fails on a failed request, RSS or descriptor growth, an
# audit count that does not match, or (the fleet) a token Redis did not count.
soak: build
	/usr/bin/python3 tests/soak/soak.py --signgate $(BUILD)/signgate --seconds $(SOAK_SECONDS)
	/usr/bin/python3 tests/soak/soak.py --signgate $(BUILD)/signgate --seconds $(SOAK_SECONDS) --replicas 3

# A working gateway on 127.0.0.1:8080 (SIGNGATE_PORT to change) against the local Bedrock/STS
# emulator, which verifies every signature with botocore; prints a dev secret and curl lines.
# Only the gateway is built; `exec` makes the demo make's own child, so however make is
# stopped (Ctrl-C, SIGTERM or SIGINT to make alone) signgate and the emulator stop with it.
run: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target signgate
	@exec /usr/bin/python3 tests/fakes/run_demo.py $(BUILD)/signgate

# The binary, the systemd unit and the example config under PREFIX (default /usr/local);
# DESTDIR=/tmp/stage make install stages them for a package.
PREFIX ?= /usr/local
install: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target signgate
	cmake --install $(BUILD) --prefix $(PREFIX)

# The local Bedrock/STS emulator alone (port SIGNGATE_EMULATOR_PORT, default 4566), for a
# signgate of your own; it prints the config and environment lines to use.
emulator: deps
	@exec /usr/bin/python3 tests/fakes/run_demo.py --emulator-only

# Google Benchmark for the hot code, then the load harness (nginx upstream, signgate, Portkey,
# wrk, h2load); LOAD_SECONDS, LOAD_CONNECTIONS, LOAD_STREAMS tune it.
bench: build bench-deps
	$(BUILD)/micro_bench --benchmark_min_time=1
	/usr/bin/python3 bench/load/run.py --signgate $(BUILD)/signgate --out $(BUILD)/load-results.md

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)

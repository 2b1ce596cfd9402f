# signgate — the two commands are `make run` and `make test`; both install what is missing first.
SHELL := /bin/bash
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)

# Every Debian package the build, the tests and the benchmarks need.
DEB_PACKAGES := g++ cmake ninja-build pkg-config make ca-certificates openssl \
  libboost-dev libssl-dev zlib1g-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libpugixml-dev libspdlog-dev \
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-botocore

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps npm-deps build build-asan test unit-test unit-test-asan integration-test run bench clean

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
npm-deps: tests/e2e/node_modules/.installed
tests/e2e/node_modules/.installed: tests/e2e/package.json tests/e2e/package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

$(BUILD_ASAN)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DSIGNGATE_SANITIZE=ON -DSIGNGATE_UNIT_TESTS_ONLY=ON -DSIGNGATE_BENCH=OFF

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(BUILD_ASAN)/build.ninja
	cmake --build $(BUILD_ASAN) -j $(JOBS)

unit-test: build
	cd $(BUILD) && ctest -L unit --output-on-failure -j $(JOBS)

unit-test-asan: build-asan
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest -L 'unit|integration' --output-on-failure -j $(JOBS)

integration-test: build npm-deps
	cd $(BUILD) && ctest -L integration --output-on-failure

# Every test: unit and integration tests (release), then the unit tests and the C++
# integration tests (client, credential providers) again under ASan+UBSan.
test: build build-asan npm-deps
	@set -o pipefail; status=0; \
	(cd $(BUILD) && ctest --output-on-failure -j $(JOBS)) | tee $(BUILD)/ctest.log || status=1; \
	(cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest -L 'unit|integration' --output-on-failure -j $(JOBS)) | tee $(BUILD_ASAN)/ctest.log || status=1; \
	suite=$$(grep -c 'AwsSuite/.*Passed' $(BUILD)/ctest.log || true); \
	echo "AWS SigV4 suite cases passed (header + query forms): $$suite"; \
	passed=$$(cat $(BUILD)/ctest.log $(BUILD_ASAN)/ctest.log | grep -c ' Passed ' || true); \
	failed=$$(grep -hE '\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout|Not Run' $(BUILD)/ctest.log $(BUILD_ASAN)/ctest.log | wc -l); \
	echo "$$passed passed, $$failed failed"; \
	exit $$status

# A working gateway on 127.0.0.1:8080 (SIGNGATE_PORT to change) against the local Bedrock/STS
# emulator, which verifies every signature with botocore; prints a dev secret and curl lines.
run: build
	@/usr/bin/python3 tests/fakes/run_demo.py $(BUILD)/signgate

bench: build
	$(BUILD)/micro_bench --benchmark_min_time=1

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

# fcgikit: the two commands are `make run` and `make test`.
#
#   make            build the library, examples and tests into $(BUILD)
#   make run        build, then serve examples/echo on $(RUN_ADDR)
#   make test       build and run every test: unit, integration, interop
#                   (peers that are not installed are skipped, saying so),
#                   the same again under ASan+UBSan, the threaded code's
#                   tests under ThreadSanitizer, the fuzzers for
#                   $(FUZZ_SECONDS)s each, a clang build, man page lint
#   make install    install under $(PREFIX), honouring DESTDIR
#   make bench      the comparison suite, bench/run (about 8 minutes;
#                   BENCH_ARGS=--quick for a 2-minute pass); not a test
#
# Needs only a C compiler, make and cmake.

BUILD        ?= build
PREFIX       ?= /usr/local
RUN_ADDR     ?= $(CURDIR)/$(BUILD)/echo.sock
FUZZ_SECONDS ?= 20
JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE        ?= cmake
CTEST        ?= ctest

export FK_FUZZ_SECONDS = $(FUZZ_SECONDS)

.PHONY: all build run test test-main test-sanitize test-tsan test-clang fuzz lint-man install clean bench

all: build

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DFK_WERROR=ON

build: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS)

run: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS) --target echo
	scripts/run-echo.sh $(BUILD) $(RUN_ADDR)

test: test-main test-sanitize test-tsan test-clang fuzz lint-man
	@echo "make test: all stages passed"

test-main: build
	cd $(BUILD) && $(CTEST) --output-on-failure -j $(JOBS)

test-sanitize:
	$(CMAKE) -S . -B $(BUILD)-sanitize -DCMAKE_BUILD_TYPE=Debug -DFK_WERROR=ON -DFK_SANITIZE=ON
	$(CMAKE) --build $(BUILD)-sanitize -j $(JOBS)
	cd $(BUILD)-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(CTEST) --output-on-failure -j $(JOBS)

# The threaded code under TSan: the application library's and the
# clients' tests, and the shell tests of the two threaded programs
# (fcgikit bench's client threads; fcgikit-cgi, a server with handler
# threads that forks scripts) with the programs they run.
TSAN_TESTS = test_app_basic test_app_concurrency test_app_failmalloc \
  test_app_input test_app_listen test_app_scale test_app_stream \
  test_client test_client_async
TSAN_SH = sh_cli sh_cgi
TSAN_PROGRAMS = fcgikit_cli fcgikit_cgi hello echo authorizer filter upload
test-tsan:
	$(CMAKE) -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFK_WERROR=ON -DFK_TSAN=ON
	$(CMAKE) --build $(BUILD)-tsan -j $(JOBS) --target $(TSAN_TESTS) $(TSAN_PROGRAMS)
	cd $(BUILD)-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  $(CTEST) --output-on-failure -j $(JOBS) \
	  -R '^($(subst $() ,|,$(strip $(TSAN_TESTS) $(TSAN_SH))))$$'

test-clang:
	@if command -v clang >/dev/null; then \
	  CC=clang $(CMAKE) -S . -B $(BUILD)-clang -DFK_WERROR=ON -DFK_TESTS=OFF && \
	  $(CMAKE) --build $(BUILD)-clang -j $(JOBS); \
	else echo "test-clang: SKIPPED (clang is not installed)"; fi

fuzz:
	scripts/run-fuzzers.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

lint-man:
	scripts/lint-man.sh man

install: build
	DESTDIR=$(DESTDIR) $(CMAKE) --install $(BUILD) --prefix $(PREFIX)

bench: build
	BUILD=$(abspath $(BUILD)) bench/run --no-build $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(BUILD)-sanitize $(BUILD)-tsan $(BUILD)-clang $(BUILD)-fuzz

# keepwatch — build, test, demo, bench.  No CMake: one Makefile, sources found by wildcard.
#
#   make            build/keepwatchd and build/keepwatch
#   make test       install missing packages, build, run every test
#   make asan|tsan  the same tests under AddressSanitizer+UBSan / ThreadSanitizer
#   make demo       the reference cluster in network namespaces, an agent on every node
#   make bench      benchmarks; figures go to test/bench/RESULTS.md
#   make deps       install the Debian packages the build and tests need (idempotent)
#   make deb        build dist/keepwatch_<version>_<arch>.deb (out of tree: build/ is untouched)

CXX      ?= g++
BUILD    ?= build
SANITIZE ?=
OPT      ?= -O2
# Extra flags from the Debian build (dpkg-buildflags: hardening, fortify, relro).
PKG_CXXFLAGS ?=
PKG_LDFLAGS  ?=

CXXFLAGS := -std=c++20 $(OPT) -g -Wall -Wextra -Werror -pthread -I. -I/usr/include/postgresql \
            -MMD -MP $(SANITIZE) $(PKG_CXXFLAGS)
LDFLAGS  := -pthread $(SANITIZE) $(PKG_LDFLAGS)
# libpq is not linked: agent/pq_loader.cpp loads it on first use (only PostgreSQL nodes
# need it, and it brings OpenSSL, Kerberos and LDAP); libpq-fe.h is still compiled against.
LDLIBS   := -lmicrohttpd -linih -lsystemd -lsodium

MAINS    := agent/keepwatchd.cpp agent/cli/keepwatch.cpp
LIB_SRCS := $(filter-out $(MAINS),$(sort $(wildcard agent/*.cpp agent/*/*.cpp checks/*.cpp)))
TEST_SRCS := $(sort $(shell find test -name '*.cpp' -not -path 'test/fuzz/*' -not -path 'test/helpers/*' 2>/dev/null))

obj = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(1))
LIB_OBJS  := $(call obj,$(LIB_SRCS))
TEST_OBJS := $(call obj,$(TEST_SRCS))

.PHONY: all test unit asan tsan deps demo bench deb format format-check clean
all: $(BUILD)/keepwatchd $(BUILD)/keepwatch

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/libkeepwatch.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/keepwatchd: $(call obj,agent/keepwatchd.cpp) $(BUILD)/libkeepwatch.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/keepwatch: $(call obj,agent/cli/keepwatch.cpp) $(BUILD)/libkeepwatch.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/keepwatch_test: $(TEST_OBJS) $(BUILD)/libkeepwatch.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- Test helper programs (test/helpers/*.cpp, each with its own main) -------------------
# kw-blockfs: a FUSE filesystem whose operations block on demand, for the hung-filestore
# tests.  libfuse3 is linked here only: keepwatchd and keepwatch never depend on it.
HELPER_CXXFLAGS := -std=c++20 $(OPT) -g -Wall -Wextra -Werror $(SANITIZE)
$(BUILD)/kw-blockfs: test/helpers/blockfs.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(HELPER_CXXFLAGS) $(shell pkg-config --cflags fuse3) $< -o $@ $(LDFLAGS) \
	  $(shell pkg-config --libs fuse3)
# kw-observer: watches a failover scenario in the namespace lab (test/lab/) and judges it.
$(BUILD)/kw-observer: $(call obj,test/helpers/observer.cpp) $(BUILD)/libkeepwatch.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/keepwatch_test: | $(BUILD)/kw-blockfs $(BUILD)/kw-observer
# ---- end of test helper programs -------------------------------------------------------

# The test runner runs the doctest binary (unit and integration cases) and the shell
# tests under test/integration/, then prints one "N passed, N failed" line.
test: deps all $(BUILD)/keepwatch_test
	test/run $(BUILD)

unit: all $(BUILD)/keepwatch_test
	$(BUILD)/keepwatch_test

# Sanitizer reports from every process of the run go to files in build/asan/reports or
# build/tsan/reports (log_path): the doctest binary's, and those of each keepwatchd a test
# starts, whose stderr and exit status the test may never look at (a ThreadSanitizer or
# LeakSanitizer report does not stop a daemon).  The target prints them and fails when
# there is any, whatever the tests said.
SAN_FLAGS_asan := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_FLAGS_tsan := -fsanitize=thread
SAN_ENV_asan = ASAN_OPTIONS=log_path=$(CURDIR)/build/asan/reports/asan \
               UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/build/asan/reports/ubsan
SAN_ENV_tsan = TSAN_OPTIONS=second_deadlock_stack=1:log_path=$(CURDIR)/build/tsan/reports/tsan
asan tsan:
	@rm -rf build/$@/reports && mkdir -p build/$@/reports && chmod 1777 build/$@/reports
	@st=0; $(SAN_ENV_$@) $(MAKE) BUILD=build/$@ OPT=-O1 SANITIZE="$(SAN_FLAGS_$@)" test || st=$$?; \
	if ls build/$@/reports/* >/dev/null 2>&1; then \
	  for f in build/$@/reports/*; do echo "=== $$f"; cat "$$f"; done; \
	  echo "make $@: sanitizer reports (above, and in build/$@/reports)"; st=1; \
	else echo "make $@: no sanitizer reports"; fi; exit $$st

deps:
	@packaging/install-deps

demo: deps all
	test/demo/run $(BUILD)

bench: deps all $(BUILD)/kw-observer
	test/bench/run $(BUILD)

# The package is built from a copy of the work tree in a temporary directory, so the
# repository's build/ and its own objects are never mixed with the package's.
deb: deps
	packaging/build-deb dist

FORMAT_SRCS = $(shell git ls-files '*.cpp' '*.h')
format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	clang-format --dry-run -Werror $(FORMAT_SRCS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- gossip: libFuzzer target for the datagram decoder (clang++) ----
#   make fuzz [FUZZ_TIME=60]   builds build/fuzz/gossip_decode_fuzz and runs it for FUZZ_TIME s
FUZZ_TIME ?= 60
FUZZ_SRCS := agent/gossip/wire.cpp agent/gossip/crypto.cpp agent/status.cpp
.PHONY: fuzz
fuzz: $(BUILD)/fuzz/gossip_decode_fuzz
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/gossip_decode_fuzz -max_total_time=$(FUZZ_TIME) -max_len=1500 -print_final_stats=1 \
	  $(BUILD)/fuzz/corpus test/fuzz/corpus
$(BUILD)/fuzz/gossip_decode_fuzz: test/fuzz/gossip_decode_fuzz.cpp $(FUZZ_SRCS) agent/gossip/wire.h agent/gossip/crypto.h
	@mkdir -p $(dir $@)
	clang++ -std=c++20 -O1 -g -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o $@ test/fuzz/gossip_decode_fuzz.cpp $(FUZZ_SRCS) -lsodium

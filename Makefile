# featurebase-lua: build featurebase/core.so for every supported Lua, test, demo.
# `make test` and `make demo` install missing Debian packages first (scripts/install-deps.sh).

LUAS      ?= lua5.1 lua5.2 lua5.3 lua5.4 luajit
VERSION   := $(shell sed -n 's/^#define FB_VERSION "\(.*\)"$$/\1/p' src/fb_version.h)
CC        ?= gcc
CFLAGS    ?= -O2 -g
WARN      := -std=gnu99 -Wall -Wextra -Werror -fPIC -fvisibility=hidden
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
# libcrypto (OpenSSL): HMAC-SHA256 for webhook signatures (src/fb_webhook.c).
CRYPTO_CFLAGS := $(shell pkg-config --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS   := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
SRCS      := $(wildcard src/*.c)
HDRS      := $(wildcard src/*.h)
LUA_PATHS := ./lua/?.lua;./lua/?/init.lua;./?.lua
BUSTED    := /usr/bin/busted

# The Lua interpreter for `make demo`.
DEMO_LUA  ?= lua5.4

.PHONY: all deps build test demo nvim dist check-rockspec lint types docs clean

all: build

deps:
	@sh scripts/install-deps.sh

build: $(LUAS:%=build/%/featurebase/core.so)

# One module per interpreter, against that interpreter's headers (pkg-config names them alike).
build/%/featurebase/core.so: $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $$(pkg-config --cflags $*) $(CURL_CFLAGS) $(CRYPTO_CFLAGS) \
	  -shared -o $@ $(SRCS) $(CURL_LIBS) $(CRYPTO_LIBS)

test: deps
	@$(MAKE) --no-print-directory build
	@sh scripts/test.sh $(LUAS)

# One interpreter: make test-lua5.4
test-%: build/%/featurebase/core.so
	@sh scripts/test.sh $*

demo: deps
	@$(MAKE) --no-print-directory build/$(DEMO_LUA)/featurebase/core.so
	@LUA_PATH='$(LUA_PATHS);;' LUA_CPATH='./build/$(DEMO_LUA)/?.so;;' $(DEMO_LUA) examples/quickstart.lua

# This checkout as a Neovim plugin (lazy.nvim: `build = "make nvim"`): Neovim runs LuaJIT and finds
# lua/featurebase/core.so on its runtimepath. No root needed: it installs nothing.
nvim: build/luajit/featurebase/core.so
	@cp $< lua/featurebase/core.so

# The release: build/dist/featurebase-$(VERSION).tar.gz (what users need: src/, lua/, examples/,
# README, CHANGELOG, the rockspec) and its `luarocks pack`ed featurebase-$(VERSION)-1.src.rock.
dist: deps
	@sh scripts/dist.sh

# The path users take: make dist, then `luarocks install` of the .src.rock into fresh trees for 5.1,
# 5.4 and LuaJIT with no network and no CURL_INCDIR, then one call of the installed copy against the
# installed featurebase.testing (scripts/check-rockspec.sh).
check-rockspec: deps check-version
	@sh scripts/check-rockspec.sh

# The editor types and the README's API reference, generated from core.api (src/fb_api.c) and
# featurebase.options by scripts/gen-types.lua: lua/featurebase/types/api.lua and the block between
# <!-- api:begin --> and <!-- api:end --> in README.md. lua/featurebase/types/objects.lua is by hand.
GEN_TYPES = LUA_PATH='$(LUA_PATHS);;' LUA_CPATH='./build/lua5.4/?.so;;' lua5.4 scripts/gen-types.lua
types: build/lua5.4/featurebase/core.so
	@$(GEN_TYPES)

# Static checks: luacheck (.luacheckrc); the generated types and README block match core.api; the
# LuaLS annotations of the public API (the fake server's internals, testing/, aside) and every
# featurebase.* type they name is defined; cppcheck. variableScope is a style choice here
# (declarations at the top of a block, as in Lua's own sources).
lint: deps
	@$(MAKE) --no-print-directory build/lua5.4/featurebase/core.so
	@luacheck -q lua spec examples scripts/gen-types.lua scripts/check-annotations.lua scripts/ldoc-prep.lua scripts/luals-type.lua
	@$(GEN_TYPES) --check
	@lua5.4 scripts/check-annotations.lua lua/featurebase.lua $$(find lua/featurebase -name '*.lua' ! -path 'lua/featurebase/testing/*')
	@cppcheck --enable=warning,style,performance,portability --std=c99 --error-exitcode=1 -q \
	  --suppress=variableScope $$(pkg-config --cflags-only-I lua5.4) $(CURL_CFLAGS) $(CRYPTO_CFLAGS) src/

# The API reference, from the sources' annotations, into docs/ (LDoc, Debian's lua-ldoc).
DOC_SOURCES = lua/featurebase.lua $(wildcard lua/featurebase/*.lua) $(wildcard lua/featurebase/types/*.lua)
docs: deps
	@rm -rf build/ldoc && mkdir -p build/ldoc
	@lua5.4 scripts/ldoc-prep.lua build/ldoc $(DOC_SOURCES)
	@cd build/ldoc && ldoc -q -c ../../config.ld -d ../../docs lua

clean:
	rm -rf build lua/featurebase/core.so

# Benchmarks (not tests; see README "Performance"): sequential calls against a local nginx over HTTP
# and HTTPS/HTTP2, side by side with bench/raw_curl.c, bench/diy_lua_curl.lua (lua-curl + cjson,
# LuaJIT), luasocket and curl processes; large answers; memory over 100,000 calls; start-up; the same
# call in instructions (bench/instructions.lua, callgrind). Then the concurrency benchmark and its
# chart (gnuplot, installed here on demand).
BENCH_LUAS ?= lua5.4 luajit

.PHONY: bench
bench: deps
	@$(MAKE) --no-print-directory $(BENCH_LUAS:%=build/%/featurebase/core.so) bench/out/raw_curl
	@status=0; for l in $(BENCH_LUAS); do \
	  echo "== bench on $$l: $$l bench/run.lua"; \
	  LUA_PATH="$(LUA_PATHS);;" LUA_CPATH="./build/$$l/?.so;;" $$l bench/run.lua || status=1; \
	  LUA_PATH="$(LUA_PATHS);;" LUA_CPATH="./build/$$l/?.so;;" $$l bench/instructions.lua || status=1; \
	done; \
	if [ -f bench/concurrency.lua ]; then \
	  $(MAKE) --no-print-directory bench-concurrency || status=1; \
	  sh bench/plot.sh || status=1; \
	fi; \
	exit $$status

# The profile behind the ratios: instructions per call (callgrind), featurebase split into its parts.
.PHONY: bench-instructions
bench-instructions: deps
	@$(MAKE) --no-print-directory $(BENCH_LUAS:%=build/%/featurebase/core.so) bench/out/raw_curl
	@for l in $(BENCH_LUAS); do \
	  LUA_PATH="$(LUA_PATHS);;" LUA_CPATH="./build/$$l/?.so;;" $$l bench/instructions.lua || exit 1; \
	done

bench/out/raw_curl: bench/raw_curl.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=gnu99 -Wall -Wextra -Werror $(CURL_CFLAGS) -o $@ $< $(CURL_LIBS)

# Async engine benchmark (bench/concurrency.lua): 1,000 calls at concurrency 32 against a 50 ms
# server over HTTPS/HTTP2 vs the ideal, with the TLS handshakes counted, and throughput per
# concurrency in bench/out/concurrency.dat (`make bench` draws bench/throughput.png from it).
CONC_LUA ?= luajit
.PHONY: bench-concurrency
bench-concurrency: deps
	@$(MAKE) --no-print-directory build/$(CONC_LUA)/featurebase/core.so
	@LUA_PATH='$(LUA_PATHS);;' LUA_CPATH='./build/$(CONC_LUA)/?.so;;' $(CONC_LUA) bench/concurrency.lua

# ---- Memory safety and fuzzing (see fuzz/harness.c and .ci/valgrind.supp) -------------------------
# `make check`: quick static and dynamic checks, including a FUZZ_SMOKE-second run of every fuzzer.
# `make check-memory`: the busted suite under valgrind memcheck, then under ASan+UBSan.
# `make fuzz FUZZ_TIME=600`: a long fuzzing session; `make fuzz-merge` then folds what it found,
# minimised, into the committed corpus fuzz/corpus/<name>/.
MEMCHECK_LUAS ?= $(LUAS)
FUZZERS   := validate decode options webhook
FUZZ_TIME ?= 600
FUZZ_SMOKE ?= 30
FUZZ_CC   ?= clang
SAN_FLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LUA  := lua5.4

.PHONY: check check-deps check-memory check-valgrind check-asan fuzz fuzz-build fuzz-smoke fuzz-merge

check-deps:
	@sh scripts/install-deps.sh --check

fuzz-build: $(FUZZERS:%=build/fuzz/fuzz_%)

# The fuzzers embed Lua 5.4 and link the C core in statically, instrumented for coverage.
build/fuzz/fuzz_%: fuzz/harness.c fuzz/%.lua $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer $(SAN_FLAGS) -std=gnu99 -Wall -Wextra -Werror \
	  -DFUZZ_SCRIPT='"$(CURDIR)/fuzz/$*.lua"' $$(pkg-config --cflags $(FUZZ_LUA)) $(CURL_CFLAGS) $(CRYPTO_CFLAGS) \
	  -o $@ fuzz/harness.c $(SRCS) $$(pkg-config --libs $(FUZZ_LUA)) $(CURL_LIBS) $(CRYPTO_LIBS)

# New inputs go to build/fuzz/corpus-<name>; the committed corpus is only read. Logs: build/fuzz/<name>.log.
fuzz: check-deps fuzz-build
	@set -e; for f in $(FUZZERS); do mkdir -p build/fuzz/corpus-$$f fuzz/corpus/$$f; \
	  echo "== fuzz_$$f for $(FUZZ_TIME) s (log: build/fuzz/$$f.log)"; \
	  (cd build/fuzz && ./fuzz_$$f -max_total_time=$(FUZZ_TIME) -jobs=1 -artifact_prefix=./$$f- \
	    -print_final_stats=1 corpus-$$f ../../fuzz/corpus/$$f >/dev/null 2>&1; mv fuzz-0.log $$f.log); \
	  grep -E '^(stat::number_of_executed_units|stat::new_units_added|==.*ERROR|SUMMARY|fuzz:|Done)' build/fuzz/$$f.log; \
	  if ls build/fuzz/$$f-crash-* build/fuzz/$$f-leak-* build/fuzz/$$f-timeout-* 2>/dev/null; then exit 1; fi; done

# `make check` runs this: every fuzzer for FUZZ_SMOKE seconds from the committed corpus.
fuzz-smoke: check-deps fuzz-build
	@set -e; for f in $(FUZZERS); do mkdir -p build/fuzz/smoke-$$f; \
	  echo "== fuzz_$$f smoke, $(FUZZ_SMOKE) s"; \
	  if ./build/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SMOKE) -artifact_prefix=build/fuzz/$$f- \
	    -print_final_stats=1 build/fuzz/smoke-$$f fuzz/corpus/$$f >build/fuzz/smoke-$$f.log 2>&1; \
	  then grep -E '^stat::number_of_executed_units' build/fuzz/smoke-$$f.log; \
	  else tail -40 build/fuzz/smoke-$$f.log; exit 1; fi; done

fuzz-merge: fuzz-build
	@set -e; for f in $(FUZZERS); do mkdir -p fuzz/corpus/$$f build/fuzz/corpus-$$f; \
	  ./build/fuzz/fuzz_$$f -merge=1 fuzz/corpus/$$f build/fuzz/corpus-$$f 2>&1 | tail -1; done

# The suite under valgrind memcheck. Children (nginx, the specs' child interpreters) run natively.
VALGRIND := valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible \
  --keep-debuginfo=yes --trace-children=no --num-callers=40 --suppressions=.ci/valgrind.supp
# What spec/08 does differently under a memory checker: fewer calls, no RSS bound (both tools keep
# freed memory in quarantine on purpose).
MEMCHECK_ENV := FEATUREBASE_LEAK_CALLS=2000 FEATUREBASE_MEMCHECK=1

check-memory: check-valgrind check-asan

check-valgrind: check-deps
	@$(MAKE) --no-print-directory $(MEMCHECK_LUAS:%=build/%/featurebase/core.so)
	@set -e; for l in $(MEMCHECK_LUAS); do echo "== valgrind memcheck: busted on $$l"; \
	  $(MEMCHECK_ENV) LUA_PATH="$(LUA_PATHS);;" LUA_CPATH="./build/$$l/?.so;;" \
	    $(VALGRIND) $$l $(BUSTED) -o utfTerminal spec; done

# The same module built with AddressSanitizer + UndefinedBehaviorSanitizer (-z nodelete keeps it
# mapped after lua_close so late reports can still name our functions), loaded into the stock
# interpreter with the ASan runtime preloaded. The preload goes through the dynamic loader's
# --preload, not LD_PRELOAD, so only Lua processes are sanitized: build/asan/bin/<lua> does it and
# comes first in PATH, so the specs' child interpreters get it too, while nginx, sh, mktemp and
# pgrep (which hangs under ASan) run as they are. Every report goes to build/asan/report.<pid>; any
# such file fails the target. Leaks: detect_leaks=0 here, because LeakSanitizer in a process started
# through ld.so reports ld.so's own never-freed name of the program; leaks are checked by valgrind
# above (definite and possible leaks are errors), by spec/08, and by LeakSanitizer in the fuzzers.
ASAN_LIB := $(shell $(CC) -print-file-name=libasan.so)
LDSO     ?= /lib64/ld-linux-x86-64.so.2
ASAN_REPORTS := $(CURDIR)/build/asan/report
ASAN_ENV := PATH="$(CURDIR)/build/asan/bin:$$PATH" \
  ASAN_OPTIONS=detect_leaks=0:strict_string_checks=1:check_initialization_order=1:log_path=$(ASAN_REPORTS) \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(ASAN_REPORTS)

build/asan/%/featurebase/core.so: $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN_FLAGS) $(WARN) $$(pkg-config --cflags $*) $(CURL_CFLAGS) $(CRYPTO_CFLAGS) \
	  -shared -Wl,-z,nodelete -o $@ $(SRCS) $(CURL_LIBS) $(CRYPTO_LIBS)

build/asan/bin/%:
	@mkdir -p $(@D)
	@printf '#!/bin/sh\nexec %s --preload %s %s "$$@"\n' $(LDSO) $(ASAN_LIB) $$(command -v $*) >$@
	@chmod +x $@

check-asan: check-deps
	@$(MAKE) --no-print-directory $(MEMCHECK_LUAS:%=build/asan/%/featurebase/core.so) $(MEMCHECK_LUAS:%=build/asan/bin/%)
	@set -e; for l in $(MEMCHECK_LUAS); do echo "== ASan+UBSan: busted on $$l"; rm -f $(ASAN_REPORTS).*; \
	  $(MEMCHECK_ENV) $(ASAN_ENV) LUA_PATH="$(LUA_PATHS);;" LUA_CPATH="./build/asan/$$l/?.so;;" \
	    $$l $(BUSTED) -o utfTerminal spec; \
	  if ls $(ASAN_REPORTS).* >/dev/null 2>&1; then cat $(ASAN_REPORTS).*; exit 1; fi; done

# The oldest libcurl claimed (FB_CURL_MIN_VERSION in src/fb_curl.h), compile-only through a shim
# header that forces the version down and poisons every newer libcurl symbol; then the module built
# that way (its fallbacks) runs the HTTP and async specs. What it proves: scripts/check-oldcurl.sh.
.PHONY: check-oldcurl check-version
check-oldcurl: check-deps
	@sh scripts/check-oldcurl.sh

# The version is written once (src/fb_version.h); the rockspecs, CHANGELOG and README agree with it.
check-version:
	@sh scripts/check-version.sh

# `make check`: the static checks, the oldest libcurl, the version, then every fuzzer for FUZZ_SMOKE seconds.
check: lint check-deps check-oldcurl check-version fuzz-smoke

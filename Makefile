# featurebase-lua: build featurebase/core.so for every supported Lua, test, demo.
# `make test` and `make demo` install missing Debian packages first (scripts/install-deps.sh).

LUAS      ?= lua5.1 lua5.2 lua5.3 lua5.4 luajit
VERSION   := 0.1.0
CC        ?= gcc
CFLAGS    ?= -O2 -g
WARN      := -std=gnu99 -Wall -Wextra -Werror -fPIC -fvisibility=hidden
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
SRCS      := $(wildcard src/*.c)
HDRS      := $(wildcard src/*.h)
LUA_PATHS := ./lua/?.lua;./lua/?/init.lua;./?.lua

# The Lua interpreter for `make demo`.
DEMO_LUA  ?= lua5.4

.PHONY: all deps build test demo check-rockspec lint docs clean

all: build

deps:
	@sh scripts/install-deps.sh

build: $(LUAS:%=build/%/featurebase/core.so)

# One module per interpreter, against that interpreter's headers (pkg-config names them alike).
build/%/featurebase/core.so: $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -DFB_VERSION='"$(VERSION)"' $$(pkg-config --cflags $*) $(CURL_CFLAGS) \
	  -shared -o $@ $(SRCS) $(CURL_LIBS)

test: deps
	@$(MAKE) --no-print-directory build
	@sh scripts/test.sh $(LUAS)

# One interpreter: make test-lua5.4
test-%: build/%/featurebase/core.so
	@sh scripts/test.sh $*

demo: deps
	@$(MAKE) --no-print-directory build/$(DEMO_LUA)/featurebase/core.so
	@LUA_PATH='$(LUA_PATHS);;' LUA_CPATH='./build/$(DEMO_LUA)/?.so;;' $(DEMO_LUA) examples/quickstart.lua

# luarocks make, offline, for 5.1, 5.4 and LuaJIT (scripts/luarocks-offline.lua), then a load test.
check-rockspec: deps
	@sh scripts/check-rockspec.sh

# Static checks: luacheck (.luacheckrc), the LuaLS annotations of the public API, and cppcheck. variableScope is a style choice here
# (declarations at the top of a block, as in Lua's own sources).
lint: deps
	@luacheck -q lua spec examples
	@lua5.4 scripts/check-annotations.lua lua/featurebase.lua $$(find lua/featurebase -name '*.lua' ! -name server.lua)
	@cppcheck --enable=warning,style,performance,portability --std=c99 --error-exitcode=1 -q \
	  --suppress=variableScope $$(pkg-config --cflags-only-I lua5.4) $(CURL_CFLAGS) src/

# The API reference, from the sources' annotations, into docs/ (LDoc, Debian's lua-ldoc).
DOC_SOURCES = lua/featurebase.lua $(filter-out lua/featurebase/testing/server.lua,$(wildcard lua/featurebase/*.lua))
docs: deps
	@rm -rf build/ldoc && mkdir -p build/ldoc
	@lua5.4 scripts/ldoc-prep.lua build/ldoc $(DOC_SOURCES)
	@cd build/ldoc && ldoc -q -c ../../config.ld -d ../../docs lua

clean:
	rm -rf build

# Benchmarks (not tests; see README "Performance"): sequential calls against a local nginx, side by
# side with bench/raw_curl.c, luasocket and curl processes, and memory over 100,000 calls. Then the
# concurrency benchmark, when present, and its chart (gnuplot, installed here on demand).
BENCH_LUAS ?= lua5.4 luajit

.PHONY: bench
bench: deps
	@$(MAKE) --no-print-directory $(BENCH_LUAS:%=build/%/featurebase/core.so) bench/out/raw_curl
	@status=0; for l in $(BENCH_LUAS); do \
	  echo "== bench on $$l: $$l bench/run.lua"; \
	  LUA_PATH="$(LUA_PATHS);;" LUA_CPATH="./build/$$l/?.so;;" $$l bench/run.lua || status=1; \
	done; \
	if [ -f bench/concurrency.lua ]; then \
	  $(MAKE) --no-print-directory bench-concurrency || status=1; \
	  sh bench/plot.sh || status=1; \
	fi; \
	exit $$status

bench/out/raw_curl: bench/raw_curl.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=gnu99 -Wall -Wextra -Werror $(CURL_CFLAGS) -o $@ $< $(CURL_LIBS)

# Async engine benchmark (bench/concurrency.lua): 1,000 calls at concurrency 32 against a 50 ms
# server vs the ideal, and throughput per concurrency in bench/out/concurrency.dat (+ PNG if gnuplot).
CONC_LUA ?= luajit
.PHONY: bench-concurrency
bench-concurrency: deps
	@$(MAKE) --no-print-directory build/$(CONC_LUA)/featurebase/core.so
	@LUA_PATH='$(LUA_PATHS);;' LUA_CPATH='./build/$(CONC_LUA)/?.so;;' $(CONC_LUA) bench/concurrency.lua
	@command -v gnuplot >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	  gnuplot-nox >/dev/null || echo "could not install gnuplot-nox (bench only): no PNG"
	@if command -v gnuplot >/dev/null; then gnuplot bench/concurrency.gp && echo "wrote bench/out/concurrency.png"; fi

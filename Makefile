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
BUSTED    := /usr/bin/busted
LUA_PATHS := ./lua/?.lua;./lua/?/init.lua;./?.lua

# The Lua interpreter for `make demo`.
DEMO_LUA  ?= lua5.4

.PHONY: all deps build test demo clean

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
	@set -e; for l in $(LUAS); do $(MAKE) --no-print-directory test-$$l; done

test-%: build/%/featurebase/core.so
	@echo "== busted on $*"
	@LUA_PATH="$(LUA_PATHS);;" LUA_CPATH="./build/$*/?.so;;" $* $(BUSTED) -o utfTerminal spec

demo: deps
	@$(MAKE) --no-print-directory build/$(DEMO_LUA)/featurebase/core.so
	@LUA_PATH='$(LUA_PATHS);;' LUA_CPATH='./build/$(DEMO_LUA)/?.so;;' $(DEMO_LUA) examples/quickstart.lua

clean:
	rm -rf build

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

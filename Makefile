# Thin wrapper over CMake. `make` builds build/tenax; `make test` installs what it needs and runs
# the whole suite twice: once plain, once under AddressSanitizer + UBSan.
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake

.PHONY: all build test test-plain test-asan deps demo bench soak fuzz format clean install

all: build

build/CMakeCache.txt:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: build/CMakeCache.txt
	$(CMAKE) --build build -j$(JOBS)

build-asan/CMakeCache.txt:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTX_SANITIZE=ON >/dev/null

deps:
	scripts/deps.sh

test: deps
	$(MAKE) test-plain
	$(MAKE) test-asan

test-plain: build
	cd build && ctest --output-on-failure -j$(JOBS)

test-asan: build-asan/CMakeCache.txt
	$(CMAKE) --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j$(JOBS)

# `make install PREFIX=/usr/local [DESTDIR=/tmp/stage]`: the binary, tenax.1, tenax.service, the
# example config (docs/cli.md, "Install").
PREFIX ?= /usr/local
install:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	$(CMAKE) --build build -j$(JOBS)
	DESTDIR=$(DESTDIR) $(CMAKE) --install build

demo: deps build
	./build/tenax demo

bench: deps build
	scripts/bench.sh

# minutes, not part of test: items and gateway load under faults, SIGKILLs, a database restart
soak: deps build
	scripts/soak.sh

fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz

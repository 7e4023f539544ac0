# Thin wrapper over CMake; everything real lives in CMakeLists.txt and tools/.
#   make        build the daemon (build/dev)
#   make run    build and run sss-server on its embedded defaults (ARGS=... adds flags)
#   make test   install what is missing, build dev/asan/fuzz, run every test
BUILD := build/dev
ARGS ?=

.PHONY: all build run test clean

all: build

build:
	@tools/bootstrap.sh --build-only
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD)

run: build
	$(BUILD)/sss-server $(ARGS)

test:
	tools/test.sh

clean:
	rm -rf build

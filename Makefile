# Thin wrapper over CMake; everything real lives in CMakeLists.txt and tools/.
#   make        build the daemon (build/dev)
#   make run    build and run the chat demo: sss-server on its embedded defaults with
#               the chat module and its page (ARGS=... adds flags)
#   make run-proxy  the same page with the chat in a Node backend (examples/proxy-node)
#               instead of the module: sss-server --proxy-url, --api-listen 127.0.0.1:9090
#   make cluster  the chat demo on three hosts behind nginx, with Redis and FerretDB, all on
#               loopback (tools/cluster.py; ARGS=... adds its options, e.g. --port 9000)
#   make test   install what is missing, build dev/asan/fuzz, run every test
#   make bench  build, then run sss's standard workloads with sss-bench (bench/run.sh; ARGS=... adds flags)
#               and the long runs of the tests (ctest -L slow: all of Autobahn 12 and 13 over --deflate)
BUILD := build/dev
ARGS ?=

.PHONY: all build run run-proxy cluster test clean bench

all: build

build:
	@tools/bootstrap.sh --build-only
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD)

run: build
	@echo "chat demo: open http://127.0.0.1:8080/ in a browser (the port of --port if ARGS sets one); several tabs talk to each other"
	$(BUILD)/sss-server --app $(BUILD)/examples/libsss-chat.so --static $(BUILD)/www $(ARGS)

run-proxy: build
	@echo "chat demo, Node backend: open http://127.0.0.1:8080/ in a browser (the port of --port if ARGS sets one); the backend is examples/proxy-node/server.mjs"
	examples/proxy-node/run.sh $(BUILD) $(ARGS)

cluster: build
	@tools/cluster.py --build $(BUILD) $(ARGS)

test:
	tools/test.sh

bench: build
	bench/run.sh $(ARGS)
	cd $(BUILD) && ctest -L slow --output-on-failure

clean:
	rm -rf build

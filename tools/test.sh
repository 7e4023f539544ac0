#!/usr/bin/env bash
# The whole test run, as `make test` and CI do it, on a fresh machine:
#   1. install what is missing (tools/bootstrap.sh)
#   2. dev build (gcc, -Werror): unit, integration, e2e (Chromium), fuzz-corpus replay
#   3. asan build (AddressSanitizer + UBSan): the same tests again
#   4. release build (-O3, -Werror): compiled only
#   5. fuzz build (clang libFuzzer): each fuzzer for SSS_FUZZ_SECONDS (30)
#   6. Autobahn testsuite (sections 1-10) against the dev build in --echo mode, over ws:// and wss://
# Ends with one line "N passed, N failed" over every ctest run.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc)
export SSS_FUZZ_SECONDS=${SSS_FUZZ_SECONDS:-30}

tools/bootstrap.sh || { echo "bootstrap failed"; exit 1; }

total_pass=0
total_fail=0
failed_runs=()

# run_ctest NAME BUILD_DIR CTEST_ARGS...
run_ctest() {
    local name=$1 dir=$2 log
    shift 2
    log=$(mktemp)
    echo "=== $name: ctest $*"
    (cd "$dir" && ctest --output-on-failure --no-tests=error "$@") 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line pass fail
    line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
    if [ -n "$line" ]; then
        fail=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
        pass=$(( $(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/') - fail ))
        total_pass=$((total_pass + pass))
        total_fail=$((total_fail + fail))
    fi
    if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
        failed_runs+=("$name")
        [ -z "$line" ] && total_fail=$((total_fail + 1))
    fi
    rm -f "$log"
}

# configure_build NAME DIR CMAKE_ARGS...
configure_build() {
    local name=$1 dir=$2
    shift 2
    echo "=== build $name"
    mkdir -p "$dir"
    if cmake -S "$ROOT" -B "$dir" -G Ninja -DSSS_VENV="$ROOT/.venv" "$@" >"$dir/configure.log" 2>&1 &&
        cmake --build "$dir" -j "$JOBS" >"$dir/build.log" 2>&1; then
        return 0
    fi
    tail -n 40 "$dir/configure.log" "$dir/build.log"
    failed_runs+=("build-$name")
    total_fail=$((total_fail + 1))
    return 1
}

mkdir -p build
if configure_build dev build/dev -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
    run_ctest dev build/dev -L "unit|integration|fuzz|e2e" -j 2
fi
if configure_build asan build/asan -DCMAKE_BUILD_TYPE=Debug -DSSS_SANITIZE=ON; then
    SSS_TEST_TIMEOUT_SCALE=4 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest asan build/asan -L "unit|integration|fuzz"
fi
# Release (-O3, no fault points): built only, so that what packagers build compiles
# without a warning (gcc's optimiser warns where -O2 does not).
configure_build release build/release -DCMAKE_BUILD_TYPE=Release || true
if CC=clang configure_build fuzz build/fuzz -DCMAKE_BUILD_TYPE=Debug -DSSS_FUZZ=ON; then
    run_ctest fuzz build/fuzz -L fuzz
fi
if [ -d build/dev ] && [ -x build/dev/sss-server ]; then
    run_ctest conformance build/dev -L conformance
fi

echo
if [ ${#failed_runs[@]} -gt 0 ]; then
    echo "FAILED runs: ${failed_runs[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ ${#failed_runs[@]} -eq 0 ]

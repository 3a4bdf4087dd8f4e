#!/usr/bin/env bash
# The README's test command. On a fresh machine it does all the set-up and runs every suite:
#   1. Debian dependencies (scripts/install_deps.sh) and a throwaway Python venv with the
#      reference implementations (numpy/LAPACK, TensorLy, scikit-learn, gguf, pytest);
#   2. the real model assets (scripts/fetch_assets.py; tests that need them skip visibly
#      when the registry is unreachable);
#   3. Release build of the library, CLI, Python extension, tests and benchmarks; ctest (all
#      labels; the Python package's tests run against the build tree);
#   4. a consumer project built against the *installed* package;
#   4b. `pip install .` into the test venv (the wheel: extension + CLI) and the Python package's
#      tests once more against the installed wheel;
#   5. the unit suites again under AddressSanitizer + UndefinedBehaviorSanitizer;
#   6. a bounded libFuzzer run of every parser fuzzer.
# Environment: LOWRANK_TEST_QUICK=1 skips steps 5 and 6; FUZZ_SECONDS (default 20).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-2}"
step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
bash scripts/install_deps.sh
VENV="${LOWRANK_TEST_VENV:-$ROOT/.venv-test}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  numpy scipy scikit-learn tensorly threadpoolctl gguf pytest matplotlib nanobind scikit-build-core

step "real model assets"
if ! "$VENV/bin/python" scripts/fetch_assets.py; then
  echo "test.sh: WARNING: assets could not be fetched; real-model tests will report SKIPPED"
fi
if ! "$VENV/bin/python" scripts/fetch_assets.py --tokenizer-vocab; then
  echo "test.sh: WARNING: llama.cpp's tokenizer vocabularies could not be fetched; their tests will report SKIPPED"
fi

step "release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLOWRANK_PYTHON="$VENV/bin/python" \
      -DLOWRANK_GGUF_PYTHON="$VENV/bin/python" -DLOWRANK_BUILD_PYTHON=ON >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"

step "installed-package consumer"
rm -rf build/install build/consumer
cmake --install build --prefix "$ROOT/build/install" >/dev/null
cmake -S tests/consumer -B build/consumer -DCMAKE_PREFIX_PATH="$ROOT/build/install" >/dev/null
cmake --build build/consumer -j"$JOBS"
ctest --test-dir build/consumer --output-on-failure

step "Python package: pip install . (extension + CLI in one wheel), tests against the installed wheel"
# scikit-build-core reuses the release tree built above, so nothing is recompiled: it configures
# with the same defines, installs the component "python" into the wheel, and pip installs it.
# Its configure adds entries to the cache (SKBUILD_*, a temporary install prefix, its FindPython
# backport in CMAKE_MODULE_PATH, Python hints), so the cache is restored afterwards. A
# from-scratch `pip install .` (build isolation, its own build-pip/ tree) makes the same wheel;
# docs/python.md gives its build time.
cp build/CMakeCache.txt build/CMakeCache.txt.before-pip
pip_rc=0
CMAKE_GENERATOR="$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' build/CMakeCache.txt)" \
CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  --no-build-isolation -Cbuild-dir=build -Ccmake.define.LOWRANK_BUILD_TESTS=ON \
  -Ccmake.define.LOWRANK_BUILD_BENCH=ON -Ccmake.define.LOWRANK_BUILD_EXAMPLES=ON . || pip_rc=$?
mv build/CMakeCache.txt.before-pip build/CMakeCache.txt
cmake -S . -B build >/dev/null
[ "$pip_rc" = 0 ] || { echo "test.sh: pip install . failed ($pip_rc)"; exit "$pip_rc"; }
env -u PYTHONPATH -u LOWRANK_CLI PATH="$VENV/bin:$PATH" \
  "$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider tests/python_pkg

if [ "${LOWRANK_TEST_QUICK:-0}" != "1" ]; then
  step "AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DLOWRANK_SANITIZE=ON \
        -DLOWRANK_BUILD_BENCH=OFF -DLOWRANK_BUILD_EXAMPLES=ON -DLOWRANK_CUDA=OFF \
        -DLOWRANK_HEADER_CHECK=OFF >/dev/null
  cmake --build build-asan -j"$JOBS"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$JOBS" -LE "python|peers|gguf_reference|study"

  step "fuzz smoke"
  BUILD_DIR="$ROOT/build-fuzz" bash scripts/run_fuzzers.sh "${FUZZ_SECONDS:-20}"
fi
step "all test stages passed"

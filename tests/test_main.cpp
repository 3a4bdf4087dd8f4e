// The doctest main of every suite. A run in which cases skipped (an asset missing,
// tests/assets.hpp; no GPU for the CUDA instantiation of the core suite) and nothing failed exits
// with 77, which ctest reports as "Skipped" (SKIP_RETURN_CODE; such cases have their own ctest
// entries: <suite>_assets, test_core_cuda).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "assets.hpp"

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    const int rc = context.run();
    if (context.shouldExit()) return rc;
    if (rc == 0 && lowrank_test::skipped_cases() > 0) return lowrank_test::skip_exit_code;
    return rc;
}

// The doctest main of every suite. A suite whose asset-needing cases found an asset missing
// (tests/assets.hpp) and had no failure exits with 77, which ctest reports as "Skipped"
// (SKIP_RETURN_CODE; such cases run in their own ctest entry, <suite>_assets).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "assets.hpp"

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    const int rc = context.run();
    if (context.shouldExit()) return rc;
    if (rc == 0 && lowrank_test::skipped_assets() > 0) return lowrank_test::skip_exit_code;
    return rc;
}

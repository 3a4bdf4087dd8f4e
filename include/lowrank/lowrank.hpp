// lowrank — header-only tensor decomposition. Umbrella header for the CPU decompositions (core,
// backend, linalg, decomp): it needs only xtensor and BLAS/LAPACK (CMake target lowrank::core).
// The CUDA backend (lowrank/cuda/), the design space (lowrank/design/design.hpp), the file
// formats (lowrank/io/) and the model layer (lowrank/model/model.hpp) are included separately;
// the last three need nlohmann_json (lowrank::lowrank).
//
// Every algorithm takes an explicit backend context first:
//     lowrank::xtensor_backend::context ctx;
//     auto svd = lowrank::truncated_svd(ctx, a, {.trunc = lowrank::truncation::rank(16)});
// Convenience overloads without a context use the default xtensor backend (lowrank/api.hpp).
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/backend/reference_backend.hpp"
#include "lowrank/backend/xtensor_backend.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/core/half.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/core/shape.hpp"
#include "lowrank/linalg/tensor_ops.hpp"
#include "lowrank/decomp/hooi.hpp"
#include "lowrank/decomp/hosvd.hpp"
#include "lowrank/decomp/matrix_tucker.hpp"
#include "lowrank/decomp/parameters.hpp"
#include "lowrank/linalg/truncation.hpp"
#include "lowrank/decomp/tucker.hpp"
#include "lowrank/linalg/svd.hpp"
#include "lowrank/api.hpp"

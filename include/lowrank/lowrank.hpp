// lowrank — header-only tensor decomposition. Umbrella header for the CPU library (the CUDA
// backend lives in lowrank/cuda/ and is never included from here).
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
#include "lowrank/core/random.hpp"
#include "lowrank/core/shape.hpp"
#include "lowrank/linalg/tensor_ops.hpp"
#include "lowrank/decomp/hooi.hpp"
#include "lowrank/decomp/hosvd.hpp"
#include "lowrank/decomp/matrix_tucker.hpp"
#include "lowrank/decomp/parameters.hpp"
#include "lowrank/linalg/truncation.hpp"
#include "lowrank/decomp/tucker.hpp"
#include "lowrank/design/design.hpp"
#include "lowrank/linalg/svd.hpp"
#include "lowrank/api.hpp"

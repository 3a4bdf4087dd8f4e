// Activation-aware compression (umbrella header): calibration statistics and their file,
// whitening, whitened/ASVD-scaled truncated SVD, the least-squares refit, output errors
// measured on statistics, rank allocation (with sensitivity weights from measured per-group
// losses), and the structured (MLP channel + VO) compressor.
// docs/compress.md describes the algorithms.
//
//     lowrank::xtensor_backend::context ctx;
//     lowrank::stats_file stats("STATS.safetensors");
//     auto h = stats.load("model.layers.0.attn_in");
//     auto s = lowrank::make_whitener(ctx, h);                          // S Sᵀ = H
//     auto r = lowrank::whitened_svd(ctx, w, s, {.trunc = lowrank::truncation::rank(64)});
//     // r.u [out, 64], r.v [in, 64]: W′ = u vᵀ; r.spectrum → lowrank::loss_curve → allocate_ranks
#pragma once

#include "lowrank/compress/allocation.hpp"
#include "lowrank/compress/asvd.hpp"
#include "lowrank/compress/output_error.hpp"
#include "lowrank/compress/refit.hpp"
#include "lowrank/compress/sensitivity.hpp"
#include "lowrank/compress/stats.hpp"
#include "lowrank/compress/stats_file.hpp"
#include "lowrank/compress/structured.hpp"
#include "lowrank/compress/whitened_svd.hpp"
#include "lowrank/compress/whitening.hpp"

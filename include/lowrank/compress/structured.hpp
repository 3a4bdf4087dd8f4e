// The structured compressor for Llama-family blocks, in three parts:
//   compress/structured_mlp.hpp   MLP intermediate-channel selection (OBS, output-aware) and the
//                                 least-squares refit of down_proj; gate/up lose the pruned rows
//   compress/structured_vo.hpp    per-kv-group value-dimension reduction and the least-squares
//                                 refit of o_proj (q/k untouched)
//   compress/structured_plan.hpp  the uniform plan that reaches a kept fraction K of the linear
//                                 parameters, exactly counted
// The result is a dense model with per-layer intermediate size I′ and value head dim r (runtime:
// examples/engine/runtime/llama.hpp takes both from the tensors' shapes).
#pragma once

#include "lowrank/compress/structured_mlp.hpp"
#include "lowrank/compress/structured_plan.hpp"
#include "lowrank/compress/structured_vo.hpp"

// The model layer (docs/architecture.md): everything between a weight file and the decomposition
// library. Families and roles (family.hpp), tensor-name tables (names.hpp), the design-space
// description of a model file (architecture.hpp), the one opener of model files (source.hpp),
// Hugging Face names of tensors and modules (hf_names.hpp), factorising one weight
// (factorise.hpp), walking a configuration γ over a model (plan.hpp) and the summary `lowrank
// inspect` prints (summary.hpp).
#pragma once

#include "lowrank/model/architecture.hpp"
#include "lowrank/model/factorise.hpp"
#include "lowrank/model/family.hpp"
#include "lowrank/model/hf_names.hpp"
#include "lowrank/model/names.hpp"
#include "lowrank/model/plan.hpp"
#include "lowrank/model/source.hpp"
#include "lowrank/model/summary.hpp"

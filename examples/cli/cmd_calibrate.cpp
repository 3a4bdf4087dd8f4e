// `lowrank calibrate MODEL --text FILE [--windows N] [--context L] [--seed S] --out STATS.safetensors
//                     [--threads T] [--quiet]`
//
// Runs MODEL (a Llama-family GGUF or Hugging Face directory, a BERT (MiniLM) Hugging Face
// directory, or a factorised file of either written by `lowrank decompose` / `lowrank compress`)
// over N windows of L tokens of FILE and writes the
// calibration statistics every activation-aware method consumes (include/lowrank/compress/
// stats_file.hpp): for each block l and each distinct linear input
//   model.layers.<l>.attn_in  (q, k, v)   model.layers.<l>.o_in    (o)
//   model.layers.<l>.mlp_in   (gate, up)  model.layers.<l>.down_in (down)
// (BERT: attn_in → query/key/value, o_in → attention.output.dense, mlp_in → intermediate.dense,
// down_in → output.dense) the float64 Gram Σ x xᵀ, Σ |x| and the token count
// (runtime/calibration.hpp: windows at uniform random starts in the stream BOS + tokens(FILE),
// drawn from mt19937_64(S); BERT: [CLS] + L − 2 WordPiece tokens + [SEP]).
// Provenance: the model's sha256 (cli/text_input.hpp: model_sha256), the text's sha256, the
// windowing (N, L, S and the starts) — `lowrank compress` refuses statistics of another model.
// FILE must be non-empty UTF-8 and give at least one window; bad numbers are usage errors. The
// output is written to a temporary file and renamed into place; nothing is left on failure.
#include "cli/calibrate_run.hpp"
#include "cli/command.hpp"

#include <memory>

namespace cmd_calibrate {

using lowrank::cli::calibration::request;

const lowrank::cli::registrar reg("calibrate", [](CLI::App& app, int* exit_code) {
    auto* sub = app.add_subcommand("calibrate", "Record calibration statistics (Grams of every linear input) for `lowrank compress`");
    auto a = std::make_shared<request>();
    sub->add_option("MODEL", a->model, "Llama-family GGUF or Hugging Face directory, BERT Hugging Face directory, or a lowrank factorised file of either")->required();
    sub->add_option("--text", a->text, "calibration text (UTF-8)")->required();
    sub->add_option("--windows", a->windows, "number of windows (default 64)");
    sub->add_option("--context", a->context, "tokens per window (default 512)");
    sub->add_option("--seed", a->seed, "window-sampling seed (default 0)");
    sub->add_option("--out", a->out, "output STATS.safetensors")->required();
    sub->add_option("--source", a->source, "factorised MODEL: its source model (default: the path its manifest records)");
    sub->add_option("--threads", a->threads, "forward threads (default 2)");
    sub->add_flag("--quiet", a->quiet, "no progress");
    sub->callback([a, exit_code] { *exit_code = lowrank::cli::calibration::run(*a); });
});

}  // namespace cmd_calibrate

// Named weights as the model builders (llama_loader.hpp, bert.hpp) consume them, independent of
// the file format: presence, shape (PyTorch order, [out, in] for a weight), float32 data, and
// linear layers — dense, or in svd / tucker2 form when the file stores low-rank factors (built
// from the factors directly; the dense W is never formed).
//
// Three sources: a GGUF file (dequantised; Llama q/k rows restored to the Hugging Face order),
// a safetensors model (file, index or directory), and a lowrank factorised file
// (include/lowrank/io/factorized.hpp). need_tensor / need_linear check every tensor's presence
// and shape against what the model's config expects and throw io_error naming the file and the
// tensor otherwise, so a model built from an untrusted file never runs with wrong shapes.
#pragma once

#include "lowrank/io/factorized.hpp"
#include "lowrank/io/gguf.hpp"
#include "lowrank/io/gguf_dequant.hpp"
#include "lowrank/io/safetensors.hpp"
#include "runtime/linear.hpp"

#include <functional>
#include <string>
#include <vector>

namespace lowrank::runtime {

struct weight_source {
    std::string where;                                          ///< the file named in errors
    std::function<bool(const std::string&)> has;
    std::function<shape_t(const std::string&)> shape;           ///< called only when has(name)
    std::function<std::vector<float>(const std::string&)> dense;  ///< float32, C order
    /// The weight as a linear layer [out, in] (shape already checked) with `bias`.
    std::function<linear(const std::string&, std::vector<float>)> lin;
};

inline std::string shape_text(const shape_t& s) {
    std::string t = "[";
    for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
}

/// Throws io_error unless `name` is present with shape `expected`.
inline void check_tensor(const weight_source& src, const std::string& name, const shape_t& expected) {
    if (!src.has(name)) throw io_error(src.where, "tensor '" + name + "' is missing");
    const shape_t s = src.shape(name);
    if (s != expected)
        throw io_error(src.where, "tensor '" + name + "' has shape " + shape_text(s) + ", the model's configuration expects " +
                                      shape_text(expected));
}

/// A dense tensor of the given shape, as float32.
inline std::vector<float> need_tensor(const weight_source& src, const std::string& name, const shape_t& expected) {
    check_tensor(src, name, expected);
    return src.dense(name);
}

/// The [out, in] weight `name` as a linear layer, with bias `bias_name` ([out]) when that
/// tensor exists (or is required).
inline linear need_linear(const weight_source& src, const std::string& name, std::size_t out, std::size_t in,
                          const std::string& bias_name = {}, bool bias_required = false) {
    check_tensor(src, name, {out, in});
    std::vector<float> bias;
    if (!bias_name.empty() && (bias_required || src.has(bias_name))) bias = need_tensor(src, bias_name, {out});
    return src.lin(name, std::move(bias));
}

/// GGUF tensors, dequantised, in the Hugging Face row order. `f` must outlive the source.
inline weight_source gguf_weight_source(const gguf_file& f) {
    weight_source s;
    s.where = f.path;
    s.has = [&f](const std::string& n) { return f.find_tensor(n) != nullptr; };
    s.shape = [&f](const std::string& n) {
        const auto& sh = f.tensor(n).shape;
        return shape_t(sh.begin(), sh.end());
    };
    s.dense = [&f](const std::string& n) { return load_tensor(f, f.tensor(n), gguf_layout::hugging_face); };
    s.lin = [&f](const std::string& n, std::vector<float> bias) {
        const auto& sh = f.tensor(n).shape;
        return linear::dense(load_tensor(f, f.tensor(n), gguf_layout::hugging_face), sh[0], sh[1], std::move(bias));
    };
    return s;
}

/// Tensors of a safetensors model (any float dtype). `m` must outlive the source.
inline weight_source safetensors_weight_source(const safetensors_model& m, std::string where) {
    weight_source s;
    s.where = std::move(where);
    s.has = [&m](const std::string& n) { return m.contains(n); };
    s.shape = [&m](const std::string& n) { return m.find(n)->shape; };
    s.dense = [&m](const std::string& n) { return to_float(m.view(n)); };
    s.lin = [&m](const std::string& n, std::vector<float> bias) {
        const auto sh = m.find(n)->shape;
        return linear::dense(to_float(m.view(n)), sh[0], sh[1], std::move(bias));
    };
    return s;
}

/// Tensors of a lowrank factorised file (already validated by factorized_model: factor shapes
/// agree with the manifest). Factorised weights become svd / tucker2 linear layers; asking
/// for a factorised tensor as a plain dense tensor (an embedding, a norm) is an error.
inline weight_source factorized_weight_source(const factorized_model& m) {
    weight_source s;
    s.where = m.path();
    s.has = [&m](const std::string& n) { return m.contains(n); };
    s.shape = [&m](const std::string& n) { return m.at(n).shape; };
    s.dense = [&m](const std::string& n) {
        const factorized_tensor& t = m.at(n);
        if (t.factored)
            throw io_error(m.path(), "tensor '" + n + "' is stored factorised, but the model needs it dense "
                                     "(only linear-layer weights can be factorised)");
        return to_float(t.dense);
    };
    s.lin = [&m](const std::string& n, std::vector<float> bias) {
        const factorized_tensor& t = m.at(n);
        const std::size_t out = t.shape[0], in = t.shape[1];
        if (!t.factored) return linear::dense(to_float(t.dense), out, in, std::move(bias));
        if (t.form == factor_form::svd) return linear::svd(to_float(t.u), to_float(t.v), out, in, t.rank, std::move(bias));
        return linear::tucker2(to_float(t.u), to_float(*t.core), to_float(t.v), out, in, t.rank, t.rank, std::move(bias));
    };
    return s;
}

}  // namespace lowrank::runtime

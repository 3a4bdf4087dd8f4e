// Named weights as the model builders (llama_loader.hpp, bert.hpp) consume them, independent of
// the file format: presence, shape (PyTorch order, [out, in] for a weight), float32 data, and
// linear layers — dense, or in svd / tucker2 form when the file stores low-rank factors (built
// from the factors directly; the dense W is never formed).
//
// Any model the library's model layer opens (lowrank/model/source.hpp: a GGUF file, dequantised
// with Llama q/k rows restored to the Hugging Face order; a safetensors model; a lowrank
// factorised file). need_tensor / need_linear check every tensor's presence
// and shape against what the model's config expects and throw io_error naming the file and the
// tensor otherwise, so a model built from an untrusted file never runs with wrong shapes.
#pragma once

#include "lowrank/model/source.hpp"
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

/// The tensors of any opened model (lowrank/model/source.hpp): GGUF dequantised in the Hugging
/// Face row order, safetensors in any float dtype, a factorised file's factorised weights as
/// svd / tucker2 linear layers (asking for one as a plain dense tensor — an embedding, a norm —
/// is an error). The source is copied (copies share the open files). Each tensor's mapped pages
/// are released once it is converted (model_source::release_pages), so loading a model does not
/// also keep its whole file resident.
inline weight_source weight_source_of(const model::model_source& m) {
    weight_source s;
    s.where = m.path();
    s.has = [m](const std::string& n) { return m.contains(n); };
    s.shape = [m](const std::string& n) { return m.tensor(n).shape; };
    s.dense = [m](const std::string& n) {
        if (const factorized_model* fm = m.factorized(); fm && fm->at(n).factored)
            throw io_error(m.path(), "tensor '" + n + "' is stored factorised, but the model needs it dense "
                                     "(only linear-layer weights can be factorised)");
        auto v = m.load_f32(n);
        m.release_pages(n);  // converted: the file's pages need not stay resident
        return v;
    };
    s.lin = [m](const std::string& n, std::vector<float> bias) {
        const shape_t sh = m.tensor(n).shape;
        const std::size_t out = sh[0], in = sh[1];
        if (const factorized_model* fm = m.factorized(); fm && fm->at(n).factored) {
            const factorized_tensor& t = fm->at(n);
            linear l = t.form == factor_form::svd
                           ? linear::svd(to_float(t.u), to_float(t.v), out, in, t.rank, std::move(bias))
                           : linear::tucker2(to_float(t.u), to_float(*t.core), to_float(t.v), out, in, t.rank, t.rank,
                                             std::move(bias));
            m.release_pages(n);
            return l;
        }
        linear l = linear::dense(m.load_f32(n), out, in, std::move(bias));
        m.release_pages(n);
        return l;
    };
    return s;
}

}  // namespace lowrank::runtime

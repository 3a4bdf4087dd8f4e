// Dequantisation of GGUF tensors to float (or double), and the Llama Q/K row permutation.
//
// Block layouts follow ggml-common.h / ggml-quants.c exactly (dequantize_row_*); the arithmetic
// is done in binary32 in the same order as ggml and the `gguf` Python package (e.g. Q4_1:
// d*q + m; K-quants: (d*scale)*q - dmin*min), so results are bit-identical to both when the
// compiler does not contract a*b+c into an FMA (the default for x86-64 builds without
// -march/-mfma; see docs/gguf.md).
//
// Supported: F32, F16, BF16, F64, I8, I16, I32, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K,
// Q5_K, Q6_K, Q8_K. Other types (IQ*, TQ*, MXFP4, Q8_1, I64) throw io_error.
//
// Output order: the tensor's bytes are C-order in the PyTorch shape (gguf_tensor_info::shape),
// so dequantize() returns a row-major [out, in] matrix for weights.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lowrank/core/errors.hpp"
#include "lowrank/io/detail/gguf_quants.hpp"
#include "lowrank/io/gguf.hpp"

namespace lowrank {

/// True when dequantize_row supports `t`.
constexpr bool can_dequantize(ggml_type t) noexcept { return detail::gguf_can_dequantize(t); }

/// Dequantises `n` elements of type `t` from `src` into `dst`. Preconditions: n is a multiple
/// of the type's block size; src holds n / block_size * type_size bytes; dst holds n values.
/// Throws invalid_argument for an unsupported type or a bad n.
template <class Out>
void dequantize_row(ggml_type t, const unsigned char* src, std::size_t n, Out* dst) {
    detail::gguf_dequantize_row(t, src, n, dst);
}

/// The whole tensor as float, C-order in `t.shape` (PyTorch order). F64 tensors are rounded
/// to float. Throws io_error naming the file and tensor for an unsupported type.
std::vector<float> dequantize(const gguf_file& f, const gguf_tensor_info& t);
/// The whole tensor as double (exact for F64; otherwise the float result widened).
std::vector<double> dequantize_f64(const gguf_file& f, const gguf_tensor_info& t);

// ---------------------------------------------------------------------------------------------
// Llama Q/K permutation.
//
// llama.cpp's convert_hf_to_gguf.py stores the q and k projections of Llama-family models with
// their rows permuted so that RoPE can rotate adjacent pairs instead of halves:
//     permute(w, n_head) = w.reshape(n_head, 2, rows/n_head/2, *rest).swapaxes(1, 2).reshape(w.shape)
// (k uses n_head_kv). Row index h*hd + s*hd/2 + i of the HF tensor moves to row h*hd + 2*i + s.
// ---------------------------------------------------------------------------------------------

/// Applies the converter's permutation to the rows of a C-order [rows, cols] matrix (cols = 1
/// for a bias). Throws shape_error unless rows is a multiple of 2*n_head.
template <class T>
std::vector<T> permute_qk_rows(std::span<const T> w, std::uint64_t rows, std::uint64_t cols, std::uint32_t n_head);
/// Inverse of permute_qk_rows: GGUF layout -> Hugging Face layout.
template <class T>
std::vector<T> unpermute_qk_rows(std::span<const T> w, std::uint64_t rows, std::uint64_t cols, std::uint32_t n_head);

/// For a Llama GGUF file (general.architecture == "llama"), the head count the converter used
/// to permute tensor `t`: llama.attention.head_count for `blk.N.attn_q.*`, head_count_kv
/// (default head_count) for `blk.N.attn_k.*`; 0 when `t` was not permuted.
std::uint32_t llama_qk_heads(const gguf_file& f, const gguf_tensor_info& t);

/// As llama_qk_heads for a file whose q/k rows the caller knows to be interleaved (the model
/// layer decides by family: model::family_info::gguf_qk_interleaved, which also covers Llama
/// relatives such as general.architecture = "mistral"); the head counts are read from
/// `<general.architecture>.attention.head_count[_kv]`. 0 when `t` is not a q/k tensor.
std::uint32_t interleaved_qk_heads(const gguf_file& f, const gguf_tensor_info& t);

/// Which row order load_tensor returns.
enum class gguf_layout {
    file,          ///< as stored in the GGUF file
    hugging_face,  ///< Llama q/k rows un-permuted (equals the original HF checkpoint)
};

/// dequantize(), then (layout == hugging_face) unpermute_qk_rows with llama_qk_heads(f, t).
std::vector<float> load_tensor(const gguf_file& f, const gguf_tensor_info& t,
                               gguf_layout layout = gguf_layout::hugging_face);
/// As load_tensor, with the q/k row order stated by the caller: `qk_interleaved` true un-permutes
/// with interleaved_qk_heads(f, t) (layout == hugging_face), false returns the rows as stored.
std::vector<float> load_tensor(const gguf_file& f, const gguf_tensor_info& t, gguf_layout layout, bool qk_interleaved);

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------
namespace detail {

template <class Out>
std::vector<Out> gguf_dequantize_tensor(const gguf_file& f, const gguf_tensor_info& t) {
    if (!can_dequantize(t.type))
        throw io_error(f.path, t.info_offset,
                       "tensor '" + t.name + "': cannot dequantize ggml type " + std::string(to_string(t.type)));
    std::vector<Out> out(static_cast<std::size_t>(t.n_elements));
    if (t.n_elements) gguf_dequantize_row(t.type, f.tensor_bytes(t).data(), out.size(), out.data());
    return out;
}

template <class T>
std::vector<T> gguf_qk_rows(std::span<const T> w, std::uint64_t rows, std::uint64_t cols, std::uint32_t n_head,
                            bool forward) {
    if (n_head == 0 || rows % (2ull * n_head) != 0)
        throw shape_error("Q/K permutation: " + std::to_string(rows) + " rows is not a multiple of 2*n_head = " +
                          std::to_string(2ull * n_head));
    if (w.size() != rows * cols) throw shape_error("Q/K permutation: data size does not match rows*cols");
    const std::uint64_t hd = rows / n_head, half = hd / 2;
    std::vector<T> out(w.size());
    for (std::uint64_t h = 0; h < n_head; ++h)
        for (std::uint64_t s = 0; s < 2; ++s)
            for (std::uint64_t i = 0; i < half; ++i) {
                const std::uint64_t hf = h * hd + s * half + i;  // HF row
                const std::uint64_t gg = h * hd + 2 * i + s;      // GGUF row
                const std::uint64_t from = forward ? hf : gg, to = forward ? gg : hf;
                std::copy_n(w.data() + from * cols, cols, out.data() + to * cols);
            }
    return out;
}

}  // namespace detail

inline std::vector<float> dequantize(const gguf_file& f, const gguf_tensor_info& t) {
    return detail::gguf_dequantize_tensor<float>(f, t);
}

inline std::vector<double> dequantize_f64(const gguf_file& f, const gguf_tensor_info& t) {
    return detail::gguf_dequantize_tensor<double>(f, t);
}

template <class T>
std::vector<T> permute_qk_rows(std::span<const T> w, std::uint64_t rows, std::uint64_t cols, std::uint32_t n_head) {
    return detail::gguf_qk_rows(w, rows, cols, n_head, true);
}

template <class T>
std::vector<T> unpermute_qk_rows(std::span<const T> w, std::uint64_t rows, std::uint64_t cols, std::uint32_t n_head) {
    return detail::gguf_qk_rows(w, rows, cols, n_head, false);
}

inline std::uint32_t interleaved_qk_heads(const gguf_file& f, const gguf_tensor_info& t) {
    const std::string& n = t.name;
    if (n.rfind("blk.", 0) != 0) return 0;
    const auto dot = n.find('.', 4);
    if (dot == std::string::npos) return 0;
    const std::string rest = n.substr(dot + 1);
    const bool is_q = rest.rfind("attn_q.", 0) == 0, is_k = rest.rfind("attn_k.", 0) == 0;
    if (!is_q && !is_k) return 0;
    const std::string arch = f.architecture();
    auto heads = [&](const std::string& key) -> std::int64_t {
        const auto* v = f.find(key);
        if (!v) return 0;
        try {
            return v->to_int();
        } catch (const error&) {
            throw io_error(f.path, key + " is not an integer");
        }
    };
    std::int64_t h = heads(arch + ".attention.head_count");
    if (h <= 0) throw io_error(f.path, arch + ".attention.head_count is missing or not positive");
    if (is_k) {
        const std::int64_t hkv = heads(arch + ".attention.head_count_kv");
        if (hkv > 0) h = hkv;
    }
    if (h > 0xffffffffll) throw io_error(f.path, "attention head count is too large");
    return static_cast<std::uint32_t>(h);
}

inline std::uint32_t llama_qk_heads(const gguf_file& f, const gguf_tensor_info& t) {
    return f.architecture() == "llama" ? interleaved_qk_heads(f, t) : 0;
}

inline std::vector<float> load_tensor(const gguf_file& f, const gguf_tensor_info& t, gguf_layout layout) {
    return load_tensor(f, t, layout, f.architecture() == "llama");
}

inline std::vector<float> load_tensor(const gguf_file& f, const gguf_tensor_info& t, gguf_layout layout,
                                      bool qk_interleaved) {
    auto w = dequantize(f, t);
    if (layout == gguf_layout::file || !qk_interleaved) return w;
    const auto heads = interleaved_qk_heads(f, t);
    if (heads == 0) return w;
    const std::uint64_t rows = t.shape.empty() ? 1 : t.shape[0];
    const std::uint64_t cols = rows ? t.n_elements / rows : 0;
    if (rows % (2ull * heads) != 0)
        throw io_error(f.path, t.info_offset,
                       "tensor '" + t.name + "': " + std::to_string(rows) + " rows do not split into " +
                           std::to_string(heads) + " heads of even size");
    return unpermute_qk_rows<float>(w, rows, cols, heads);
}

}  // namespace lowrank

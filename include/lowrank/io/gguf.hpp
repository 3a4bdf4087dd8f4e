// GGUF reader (format versions 2 and 3): metadata, tensor infos and zero-copy access to the
// tensor bytes of a memory-mapped file.
//
// Model files are untrusted input. The parser is bounded and defensive in the manner of
// llama.cpp's gguf.cpp: every count, length, offset and size is checked against the file size
// with overflow-safe arithmetic before anything is allocated or read; nested arrays are
// limited in depth; tensors have 1..4 dimensions (0 is read as a scalar), known ggml types,
// ne[0] a multiple of the type's block size, data offsets aligned to `general.alignment`
// (default 32) that lie inside the file and do not overlap. Any violation throws
// lowrank::io_error naming the file and the byte offset of the offending field.
//
// Shapes: GGUF lists dimensions innermost-first (ne[0] is contiguous). `gguf_tensor_info::ne`
// keeps that raw order; `gguf_tensor_info::shape` is the reversed, PyTorch/numpy order, so a
// weight matrix reads [out, in] and the tensor bytes are C-order in that shape.
//
// Dequantisation lives in gguf_dequant.hpp, writing in gguf_writer.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lowrank/core/errors.hpp"
#include "lowrank/io/detail/gguf_types.hpp"

namespace lowrank {

/// One metadata value. Scalars keep their exact type and bits; arrays keep their element
/// type: numbers/bools as packed little-endian bytes (`raw`), strings in `strings`, nested
/// arrays in `items`.
struct gguf_value {
    gguf_value_type type = gguf_value_type::uint8;
    std::uint64_t bits = 0;                               ///< numeric/bool scalar: raw LE bits
    std::string str;                                      ///< type == string
    gguf_value_type elem_type = gguf_value_type::uint8;  ///< type == array: element type
    std::uint64_t count = 0;                              ///< type == array: element count
    std::vector<unsigned char> raw;                       ///< array of scalars: count * size bytes
    std::vector<std::string> strings;                     ///< array of strings: count entries
    std::vector<gguf_value> items;                        ///< array of arrays: count entries

    bool is_array() const noexcept { return type == gguf_value_type::array; }
    bool is_string() const noexcept { return type == gguf_value_type::string; }

    /// The scalar as exactly the C++ type matching its GGUF type (uint8_t..int64_t, float,
    /// double, bool). Throws invalid_argument when the types differ.
    template <class T>
    T get() const;
    /// Any integer scalar (or bool) as int64; throws invalid_argument otherwise or when a
    /// u64 value exceeds INT64_MAX.
    std::int64_t to_int() const;
    /// Any numeric scalar as double; throws invalid_argument for strings and arrays.
    double to_double() const;
    /// The string; throws invalid_argument when the value is not a string.
    const std::string& as_string() const;
    /// A scalar array as std::vector<T>, T matching the element type exactly (see get()).
    template <class T>
    std::vector<T> array_of() const;

    // Construction (used by writers and tests).
    template <class T>
    static gguf_value scalar(T v);
    static gguf_value string(std::string s);
    template <class T>
    static gguf_value array(const std::vector<T>& v);  ///< T scalar type or std::string
    static gguf_value array_of_arrays(std::vector<gguf_value> items);
};

/// A metadata key/value pair; `offset` is where the pair starts in the file (0 if built).
struct gguf_kv {
    std::string key;
    gguf_value value;
    std::uint64_t offset = 0;
};

/// One tensor as described in the file's header.
struct gguf_tensor_info {
    std::string name;
    ggml_type type = ggml_type::f32;
    std::vector<std::uint64_t> ne;     ///< raw GGUF dims, innermost (contiguous) first
    std::vector<std::uint64_t> shape;  ///< PyTorch order (ne reversed): matrices are [out, in]
    std::uint64_t offset = 0;          ///< byte offset relative to the data section
    std::uint64_t file_offset = 0;     ///< absolute byte offset of the data in the file
    std::uint64_t n_elements = 0;      ///< product of ne (1 for 0 dims)
    std::uint64_t n_bytes = 0;         ///< n_elements / block_size * type_size
    std::uint64_t info_offset = 0;     ///< where this tensor's info starts in the header
};

/// A parsed GGUF file. Keeps the mapping (or the caller's buffer) alive while it exists;
/// copies share it.
struct gguf_file {
    std::string path;
    std::uint32_t version = 3;
    std::uint64_t alignment = 32;    ///< general.alignment or 32
    std::uint64_t data_offset = 0;   ///< absolute offset of the tensor data section
    std::uint64_t file_size = 0;
    std::vector<gguf_kv> metadata;   ///< in file order
    std::vector<gguf_tensor_info> tensors;  ///< in file order

    const gguf_value* find(std::string_view key) const noexcept;
    /// The value of `key`; throws io_error (naming the file) when absent.
    const gguf_value& at(std::string_view key) const;
    const gguf_tensor_info* find_tensor(std::string_view name) const noexcept;
    /// The tensor called `name`; throws io_error when absent.
    const gguf_tensor_info& tensor(std::string_view name) const;
    /// `general.architecture`, or "" when absent or not a string.
    std::string architecture() const;
    /// The tensor's bytes inside the mapping (n_bytes long; bounds were checked when parsing).
    std::span<const unsigned char> tensor_bytes(const gguf_tensor_info& t) const noexcept {
        return {base + t.file_offset, static_cast<std::size_t>(t.n_bytes)};
    }

    std::shared_ptr<const void> storage;  ///< owner of the bytes (the mmap); may be null
    const unsigned char* base = nullptr;  ///< start of the file's bytes
    bool file_mapped = false;             ///< read_gguf: the bytes are a read-only file mapping
};

/// Parser limits (beyond "fits in the file").
struct gguf_limits {
    std::uint64_t max_string = std::uint64_t{1} << 30;  ///< bytes in any one string
    std::uint64_t max_key = 65535;                      ///< bytes in a key or tensor name
    std::uint32_t max_depth = 8;                        ///< array nesting depth
    std::uint32_t max_dims = 4;                         ///< as GGML_MAX_DIMS
};

/// Memory-maps `path` (read-only) and parses it. Throws io_error on any problem.
gguf_file read_gguf(const std::string& path, const gguf_limits& limits = {});

/// Parses a GGUF image held in memory. The bytes are NOT copied: they must outlive the result
/// (and its copies). `name` is used in error messages.
gguf_file parse_gguf(std::span<const unsigned char> bytes, std::string name,
                     const gguf_limits& limits = {});

}  // namespace lowrank

#include "lowrank/io/detail/gguf_parse.hpp"

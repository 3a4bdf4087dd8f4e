// Implementation of gguf.hpp: value accessors and the bounded GGUF parser.
#pragma once

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_set>

#include "lowrank/io/detail/file.hpp"
#include "lowrank/io/gguf.hpp"

namespace lowrank {
namespace detail {

template <class T>
constexpr gguf_value_type gguf_type_of() {
    if constexpr (std::is_same_v<T, bool>) return gguf_value_type::boolean;
    else if constexpr (std::is_same_v<T, std::uint8_t>) return gguf_value_type::uint8;
    else if constexpr (std::is_same_v<T, std::int8_t>) return gguf_value_type::int8;
    else if constexpr (std::is_same_v<T, std::uint16_t>) return gguf_value_type::uint16;
    else if constexpr (std::is_same_v<T, std::int16_t>) return gguf_value_type::int16;
    else if constexpr (std::is_same_v<T, std::uint32_t>) return gguf_value_type::uint32;
    else if constexpr (std::is_same_v<T, std::int32_t>) return gguf_value_type::int32;
    else if constexpr (std::is_same_v<T, std::uint64_t>) return gguf_value_type::uint64;
    else if constexpr (std::is_same_v<T, std::int64_t>) return gguf_value_type::int64;
    else if constexpr (std::is_same_v<T, float>) return gguf_value_type::float32;
    else if constexpr (std::is_same_v<T, double>) return gguf_value_type::float64;
    else if constexpr (std::is_same_v<T, std::string>) return gguf_value_type::string;
    else static_assert(sizeof(T) == 0, "not a GGUF value type");
}

template <class T>
T gguf_decode_scalar(const unsigned char* p) {
    if constexpr (std::is_same_v<T, bool>) return *p != 0;
    else return load_le<T>(p);
}

inline std::string gguf_type_mismatch(gguf_value_type have, std::string_view want) {
    return "GGUF value is " + std::string(to_string(have)) + ", not " + std::string(want);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// gguf_value
// ---------------------------------------------------------------------------------------------
template <class T>
T gguf_value::get() const {
    constexpr auto want = detail::gguf_type_of<T>();
    if (type != want) throw invalid_argument(detail::gguf_type_mismatch(type, to_string(want)));
    unsigned char b[8];
    std::memcpy(b, &bits, 8);
    return detail::gguf_decode_scalar<T>(b);
}

inline std::int64_t gguf_value::to_int() const {
    switch (type) {
        case gguf_value_type::uint8: return get<std::uint8_t>();
        case gguf_value_type::int8: return get<std::int8_t>();
        case gguf_value_type::uint16: return get<std::uint16_t>();
        case gguf_value_type::int16: return get<std::int16_t>();
        case gguf_value_type::uint32: return get<std::uint32_t>();
        case gguf_value_type::int32: return get<std::int32_t>();
        case gguf_value_type::int64: return get<std::int64_t>();
        case gguf_value_type::boolean: return get<bool>() ? 1 : 0;
        case gguf_value_type::uint64: {
            auto v = get<std::uint64_t>();
            if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                throw invalid_argument("GGUF u64 value does not fit in int64");
            return static_cast<std::int64_t>(v);
        }
        default: throw invalid_argument(detail::gguf_type_mismatch(type, "an integer"));
    }
}

inline double gguf_value::to_double() const {
    if (type == gguf_value_type::float32) return get<float>();
    if (type == gguf_value_type::float64) return get<double>();
    if (type == gguf_value_type::uint64) return static_cast<double>(get<std::uint64_t>());
    return static_cast<double>(to_int());
}

inline const std::string& gguf_value::as_string() const {
    if (type != gguf_value_type::string) throw invalid_argument(detail::gguf_type_mismatch(type, "string"));
    return str;
}

template <class T>
std::vector<T> gguf_value::array_of() const {
    constexpr auto want = detail::gguf_type_of<T>();
    if (type != gguf_value_type::array || elem_type != want)
        throw invalid_argument("GGUF value is not an array of " + std::string(to_string(want)));
    if constexpr (std::is_same_v<T, std::string>) {
        return strings;
    } else {
        std::vector<T> out(count);
        for (std::uint64_t i = 0; i < count; ++i)
            out[i] = detail::gguf_decode_scalar<T>(raw.data() + i * sizeof(T));
        return out;
    }
}

template <class T>
gguf_value gguf_value::scalar(T v) {
    gguf_value out;
    out.type = detail::gguf_type_of<T>();
    if constexpr (std::is_same_v<T, bool>) out.bits = v ? 1 : 0;
    else std::memcpy(&out.bits, &v, sizeof(T));
    return out;
}

inline gguf_value gguf_value::string(std::string s) {
    gguf_value out;
    out.type = gguf_value_type::string;
    out.str = std::move(s);
    return out;
}

template <class T>
gguf_value gguf_value::array(const std::vector<T>& v) {
    gguf_value out;
    out.type = gguf_value_type::array;
    out.elem_type = detail::gguf_type_of<T>();
    out.count = v.size();
    if constexpr (std::is_same_v<T, std::string>) {
        out.strings = v;
    } else {
        out.raw.resize(v.size() * sizeof(T));
        for (std::size_t i = 0; i < v.size(); ++i) {
            if constexpr (std::is_same_v<T, bool>) out.raw[i] = v[i] ? 1 : 0;
            else std::memcpy(out.raw.data() + i * sizeof(T), &v[i], sizeof(T));
        }
    }
    return out;
}

inline gguf_value gguf_value::array_of_arrays(std::vector<gguf_value> items) {
    for (const auto& it : items)
        if (!it.is_array()) throw invalid_argument("array_of_arrays: every item must be an array");
    gguf_value out;
    out.type = gguf_value_type::array;
    out.elem_type = gguf_value_type::array;
    out.count = items.size();
    out.items = std::move(items);
    return out;
}

// ---------------------------------------------------------------------------------------------
// gguf_file
// ---------------------------------------------------------------------------------------------
inline const gguf_value* gguf_file::find(std::string_view key) const noexcept {
    for (const auto& kv : metadata)
        if (kv.key == key) return &kv.value;
    return nullptr;
}

inline const gguf_value& gguf_file::at(std::string_view key) const {
    if (const auto* v = find(key)) return *v;
    throw io_error(path, "missing GGUF metadata key '" + std::string(key) + "'");
}

inline const gguf_tensor_info* gguf_file::find_tensor(std::string_view name) const noexcept {
    for (const auto& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

inline const gguf_tensor_info& gguf_file::tensor(std::string_view name) const {
    if (const auto* t = find_tensor(name)) return *t;
    throw io_error(path, "no tensor named '" + std::string(name) + "'");
}

inline std::string gguf_file::architecture() const {
    const auto* v = find("general.architecture");
    return v && v->is_string() ? v->str : std::string{};
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------
namespace detail {

class gguf_parser {
public:
    gguf_parser(const unsigned char* data, std::uint64_t size, const std::string& path,
                const gguf_limits& limits)
        : data_(data), size_(size), path_(path), lim_(limits) {}

    [[noreturn]] void fail(std::uint64_t at, const std::string& msg) const { throw io_error(path_, at, msg); }

    std::uint64_t pos() const noexcept { return pos_; }
    std::uint64_t remaining() const noexcept { return size_ - pos_; }

    void need(std::uint64_t n, std::string_view what) const {
        if (n > remaining())
            fail(pos_, "truncated file: " + std::string(what) + " needs " + std::to_string(n) +
                           " bytes, " + std::to_string(remaining()) + " left");
    }

    template <class T>
    T read(std::string_view what) {
        need(sizeof(T), what);
        T v = load_le<T>(data_ + pos_);
        pos_ += sizeof(T);
        return v;
    }

    std::string read_string(std::uint64_t max_len, std::string_view what) {
        const std::uint64_t at = pos_;
        const auto len = read<std::uint64_t>(what);
        if (len > max_len)
            fail(at, std::string(what) + " length " + std::to_string(len) + " exceeds the limit of " +
                         std::to_string(max_len));
        if (len > remaining())
            fail(at, std::string(what) + " length " + std::to_string(len) + " runs past the end of the file (" +
                         std::to_string(remaining()) + " bytes left)");
        std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(len));
        pos_ += len;
        return s;
    }

    gguf_value read_value(gguf_value_type type, std::uint64_t type_at, std::uint32_t depth) {
        gguf_value v;
        v.type = type;
        if (const auto sz = gguf_scalar_size(type)) {
            need(sz, "metadata value");
            std::memcpy(&v.bits, data_ + pos_, sz);
            pos_ += sz;
            return v;
        }
        if (type == gguf_value_type::string) {
            v.str = read_string(lim_.max_string, "string");
            return v;
        }
        if (type != gguf_value_type::array)
            fail(type_at, "unknown GGUF value type " + std::to_string(static_cast<std::uint32_t>(type)));
        if (depth >= lim_.max_depth)
            fail(type_at, "arrays nested deeper than " + std::to_string(lim_.max_depth) + " levels");
        const std::uint64_t et_at = pos_;
        v.elem_type = static_cast<gguf_value_type>(read<std::uint32_t>("array element type"));
        const std::uint64_t n_at = pos_;
        v.count = read<std::uint64_t>("array length");
        const auto esz = gguf_scalar_size(v.elem_type);
        // The smallest encoding of one element bounds the count by the bytes left.
        const std::uint64_t min_elem = esz ? esz
                                       : v.elem_type == gguf_value_type::string ? 8
                                       : v.elem_type == gguf_value_type::array  ? 12
                                                                                : 0;
        if (min_elem == 0)
            fail(et_at, "unknown GGUF array element type " + std::to_string(static_cast<std::uint32_t>(v.elem_type)));
        if (v.count > remaining() / min_elem)
            fail(n_at, "array length " + std::to_string(v.count) + " cannot fit in the " +
                           std::to_string(remaining()) + " bytes left in the file");
        if (esz) {
            v.raw.assign(data_ + pos_, data_ + pos_ + v.count * esz);
            pos_ += v.count * esz;
        } else if (v.elem_type == gguf_value_type::string) {
            v.strings.reserve(static_cast<std::size_t>(v.count));
            for (std::uint64_t i = 0; i < v.count; ++i) v.strings.push_back(read_string(lim_.max_string, "string"));
        } else {
            v.items.reserve(static_cast<std::size_t>(v.count));
            for (std::uint64_t i = 0; i < v.count; ++i) v.items.push_back(read_value(gguf_value_type::array, et_at, depth + 1));
        }
        return v;
    }

    gguf_file parse() {
        gguf_file f;
        f.path = path_;
        f.file_size = size_;
        f.base = data_;

        need(4, "magic");
        if (std::memcmp(data_, "GGUF", 4) != 0) fail(0, "bad magic: not a GGUF file");
        pos_ = 4;
        const auto version = read<std::uint32_t>("version");
        if (version == 1) fail(4, "GGUF version 1 is not supported (only 2 and 3)");
        if (version != 2 && version != 3) {
            const bool swapped = (version & 0xffffu) == 0 && ((version >> 24) == 2 || (version >> 24) == 3);
            fail(4, swapped ? std::string("big-endian GGUF files are not supported")
                            : "unsupported GGUF version " + std::to_string(version) + " (only 2 and 3)");
        }
        f.version = version;
        const auto n_tensors = read<std::uint64_t>("tensor count");
        const auto n_kv = read<std::uint64_t>("metadata count");
        // Smallest possible tensor info: empty name (8) + n_dims (4) + type (4) + offset (8).
        if (n_tensors > remaining() / 24)
            fail(8, "tensor count " + std::to_string(n_tensors) + " cannot fit in the file");
        // Smallest possible key/value: empty key (8) + type (4) + one byte.
        if (n_kv > remaining() / 13) fail(16, "metadata count " + std::to_string(n_kv) + " cannot fit in the file");

        std::unordered_set<std::string> keys;
        f.metadata.reserve(static_cast<std::size_t>(n_kv));
        for (std::uint64_t i = 0; i < n_kv; ++i) {
            gguf_kv kv;
            kv.offset = pos_;
            kv.key = read_string(lim_.max_key, "metadata key");
            if (!keys.insert(kv.key).second) fail(kv.offset, "duplicate metadata key '" + kv.key + "'");
            const std::uint64_t type_at = pos_;
            const auto type = static_cast<gguf_value_type>(read<std::uint32_t>("metadata value type"));
            kv.value = read_value(type, type_at, 0);
            f.metadata.push_back(std::move(kv));
        }
        for (const auto& kv : f.metadata) {
            if (kv.key != "general.alignment") continue;
            if (kv.value.type != gguf_value_type::uint32)
                fail(kv.offset, "general.alignment must be a u32, not " + std::string(to_string(kv.value.type)));
            const auto a = kv.value.get<std::uint32_t>();
            if (a == 0 || (a & (a - 1)) != 0)
                fail(kv.offset, "general.alignment " + std::to_string(a) + " is not a power of two");
            f.alignment = a;
        }

        std::unordered_set<std::string> names;
        std::vector<std::uint64_t> offset_at(static_cast<std::size_t>(n_tensors));
        f.tensors.reserve(static_cast<std::size_t>(n_tensors));
        constexpr auto i64max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        for (std::uint64_t i = 0; i < n_tensors; ++i) {
            gguf_tensor_info t;
            t.info_offset = pos_;
            t.name = read_string(lim_.max_key, "tensor name");
            if (!names.insert(t.name).second) fail(t.info_offset, "duplicate tensor name '" + t.name + "'");
            const std::uint64_t dims_at = pos_;
            const auto n_dims = read<std::uint32_t>("tensor n_dims");
            if (n_dims > lim_.max_dims)
                fail(dims_at, "tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (at most " +
                                  std::to_string(lim_.max_dims) + ")");
            const std::uint64_t ne_at = pos_;
            t.n_elements = 1;
            for (std::uint32_t d = 0; d < n_dims; ++d) {
                const std::uint64_t at = pos_;
                const auto ne = read<std::uint64_t>("tensor dimension");
                if (ne > i64max) fail(at, "tensor '" + t.name + "' dimension " + std::to_string(ne) + " is too large");
                if (ne != 0 && t.n_elements > i64max / ne)
                    fail(at, "tensor '" + t.name + "' element count overflows int64");
                t.n_elements *= ne;
                t.ne.push_back(ne);
            }
            t.shape.assign(t.ne.rbegin(), t.ne.rend());
            const std::uint64_t type_at = pos_;
            t.type = static_cast<ggml_type>(read<std::uint32_t>("tensor type"));
            const auto tr = ggml_traits(t.type);
            if (tr.block_size == 0)
                fail(type_at, "tensor '" + t.name + "' has unknown ggml type " +
                                  std::to_string(static_cast<std::uint32_t>(t.type)));
            const std::uint64_t ne0 = t.ne.empty() ? 1 : t.ne[0];
            if (ne0 % tr.block_size != 0)
                fail(ne_at, "tensor '" + t.name + "': ne[0] = " + std::to_string(ne0) + " is not a multiple of the " +
                                std::string(tr.name) + " block size " + std::to_string(tr.block_size));
            const std::uint64_t blocks = t.n_elements / tr.block_size;
            if (blocks > std::numeric_limits<std::uint64_t>::max() / tr.type_size)
                fail(ne_at, "tensor '" + t.name + "' byte size overflows");
            t.n_bytes = blocks * tr.type_size;
            offset_at[static_cast<std::size_t>(i)] = pos_;
            t.offset = read<std::uint64_t>("tensor data offset");
            if (t.offset % f.alignment != 0)
                fail(offset_at[static_cast<std::size_t>(i)],
                     "tensor '" + t.name + "' data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                         std::to_string(f.alignment));
            f.tensors.push_back(std::move(t));
        }

        // Data section: header end padded to the alignment.
        const std::uint64_t pad = (f.alignment - pos_ % f.alignment) % f.alignment;
        if (pad > remaining() && n_tensors > 0) fail(pos_, "tensor data section starts beyond the end of the file");
        f.data_offset = pos_ + pad;
        for (std::size_t i = 0; i < f.tensors.size(); ++i) {
            auto& t = f.tensors[i];
            const std::uint64_t avail = size_ - f.data_offset;
            if (t.offset > avail || t.n_bytes > avail - t.offset)
                fail(offset_at[i], "tensor '" + t.name + "' data [" + std::to_string(t.offset) + ", +" +
                                       std::to_string(t.n_bytes) + ") runs past the end of the file");
            t.file_offset = f.data_offset + t.offset;
        }
        std::vector<std::size_t> order(f.tensors.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::sort(order.begin(), order.end(),
                  [&](std::size_t a, std::size_t b) { return f.tensors[a].offset < f.tensors[b].offset; });
        std::uint64_t end = 0;  // furthest end of the non-empty tensors seen so far
        const gguf_tensor_info* last = nullptr;
        for (std::size_t k : order) {
            const auto& cur = f.tensors[k];
            if (cur.n_bytes == 0) continue;
            if (last && cur.offset < end)
                fail(offset_at[k], "tensor '" + cur.name + "' data overlaps tensor '" + last->name + "'");
            if (cur.offset + cur.n_bytes > end) {
                end = cur.offset + cur.n_bytes;
                last = &cur;
            }
        }
        return f;
    }

private:
    const unsigned char* data_;
    std::uint64_t size_;
    std::uint64_t pos_ = 0;
    const std::string& path_;
    const gguf_limits& lim_;
};

}  // namespace detail

inline gguf_file parse_gguf(std::span<const unsigned char> bytes, std::string name, const gguf_limits& limits) {
    detail::gguf_parser p(bytes.data(), bytes.size(), name, limits);
    return p.parse();
}

inline gguf_file read_gguf(const std::string& path, const gguf_limits& limits) {
    auto map = std::make_shared<detail::readonly_map>(path);
    auto f = parse_gguf({reinterpret_cast<const unsigned char*>(map->data()), map->size()}, path, limits);
    f.storage = std::move(map);
    f.file_mapped = true;
    return f;
}

}  // namespace lowrank

// NumPy .npy files (format versions 1.0, 2.0 and 3.0): read and write.
//
// Reading: little-endian ('<', '|', or '=') bool, int8..int64, uint8..uint64, float16,
// float32 and float64; C order or Fortran order (Fortran data is returned converted to C
// order); any number of dimensions including 0-d (shape (), one element). The file is
// untrusted: every length and offset is checked, and each problem throws lowrank::io_error
// naming the file and the byte offset at which it was found (missing file, wrong magic,
// unsupported version, truncated header, header that is not a valid dict, unsupported dtype
// such as '>f4', 'O' or complex, shape whose byte size overflows, data shorter or longer than
// the shape implies).
//
// Writing: C order, version 1.0 (2.0 when the header needs it), header padded to a 64-byte
// boundary as numpy does, written atomically (temp file in the same directory + rename).
//
//   shape_t shape;
//   std::vector<float> w = lowrank::npy_load_as<float>("w.npy", shape);      // f4 only
//   auto d = lowrank::npy_load_as<double>("w.npy", shape, npy_convert::to_requested);  // any number
//   lowrank::npy_save("out.npy", w.data(), shape);
#pragma once

#include "lowrank/core/errors.hpp"
#include "lowrank/core/shape.hpp"
#include "lowrank/io/detail/file.hpp"
#include "lowrank/core/half.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lowrank {

static_assert(std::endian::native == std::endian::little, "lowrank io assumes a little-endian host");

/// A whole .npy array in memory.
struct npy_array {
    std::string dtype;            ///< numpy kind + item size without byte order: "f4", "f8", "f2", "i4", "u1", "b1", ...
    shape_t shape;                ///< dimensions; empty for a 0-d array
    std::vector<std::byte> data;  ///< numel(shape) * itemsize() bytes, C order, little-endian

    std::size_t itemsize() const { return static_cast<std::size_t>(dtype.at(1) - '0'); }
    std::size_t size() const { return numel(shape); }
};

/// Whether npy_load_as may convert the file's dtype to the requested element type.
enum class npy_convert {
    exact,         ///< the file's dtype must be the requested type (else io_error)
    to_requested,  ///< any numeric dtype is converted to the requested floating-point type
};

/// The numpy dtype string ("f4", "i8", ...) of an arithmetic C++ type.
template <class T>
constexpr std::string_view npy_dtype_of() {
    static_assert(std::is_arithmetic_v<T>, "npy supports arithmetic element types");
    if constexpr (std::is_same_v<T, bool>) return "b1";
    else if constexpr (std::is_floating_point_v<T>) {
        static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or double");
        return sizeof(T) == 4 ? "f4" : "f8";
    } else if constexpr (std::is_signed_v<T>) {
        constexpr std::string_view s[] = {"", "i1", "i2", "", "i4", "", "", "", "i8"};
        return s[sizeof(T)];
    } else {
        constexpr std::string_view s[] = {"", "u1", "u2", "", "u4", "", "", "", "u8"};
        return s[sizeof(T)];
    }
}

namespace detail {

/// Parsed .npy header.
struct npy_header {
    std::string dtype;  // normalised "f4", "i2", ...
    shape_t shape;
    bool fortran_order = false;
    std::size_t data_offset = 0;  // byte offset of the first element
    std::size_t data_bytes = 0;   // numel * itemsize
    std::size_t descr_offset = 0; // where 'descr' was found (for error messages)
};

/// Minimal parser for the Python dict literal of a .npy header:
///   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class npy_dict_parser {
public:
    npy_dict_parser(std::string_view text, std::size_t base, const std::string& path)
        : s_(text), base_(base), path_(path) {}

    npy_header parse() {
        npy_header h;
        bool have_descr = false, have_order = false, have_shape = false;
        skip_ws();
        expect('{');
        while (true) {
            skip_ws();
            if (peek() == '}') {
                ++i_;
                break;
            }
            const std::size_t key_at = i_;
            std::string key = parse_string();
            skip_ws();
            expect(':');
            skip_ws();
            if (key == "descr") {
                h.descr_offset = base_ + i_;
                if (peek() != '\'' && peek() != '"')
                    fail("'descr' is not a simple dtype string (structured dtypes are not supported)");
                h.dtype = normalise_descr(parse_string(), h.descr_offset);
                have_descr = true;
            } else if (key == "fortran_order") {
                h.fortran_order = parse_bool();
                have_order = true;
            } else if (key == "shape") {
                h.shape = parse_shape();
                have_shape = true;
            } else {
                i_ = key_at;
                fail("unexpected key '" + key + "' in header");
            }
            skip_ws();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            skip_ws();
            expect('}');
            break;
        }
        // Only whitespace (numpy pads with spaces and ends with '\n') may follow.
        skip_ws();
        if (i_ != s_.size()) fail("unexpected characters after the header dict");
        if (!have_descr) fail("header has no 'descr'");
        if (!have_order) fail("header has no 'fortran_order'");
        if (!have_shape) fail("header has no 'shape'");
        return h;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw io_error(path_, base_ + i_, what); }
    char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
    void skip_ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("malformed header: expected '") + c + "'");
        ++i_;
    }
    std::string parse_string() {
        const char q = peek();
        if (q != '\'' && q != '"') fail("malformed header: expected a quoted string");
        ++i_;
        std::string out;
        while (i_ < s_.size() && s_[i_] != q) {
            if (s_[i_] == '\\') fail("escape sequences are not supported in header strings");
            out += s_[i_++];
        }
        if (i_ >= s_.size()) fail("malformed header: unterminated string");
        ++i_;
        return out;
    }
    bool parse_bool() {
        if (s_.substr(i_, 4) == "True") {
            i_ += 4;
            return true;
        }
        if (s_.substr(i_, 5) == "False") {
            i_ += 5;
            return false;
        }
        fail("'fortran_order' must be True or False");
    }
    shape_t parse_shape() {
        expect('(');
        shape_t shape;
        while (true) {
            skip_ws();
            if (peek() == ')') {
                ++i_;
                break;
            }
            if (peek() < '0' || peek() > '9') fail("malformed shape: expected a non-negative integer");
            std::size_t v = 0;
            while (peek() >= '0' && peek() <= '9') {
                const std::size_t d = static_cast<std::size_t>(peek() - '0');
                if (v > (static_cast<std::size_t>(-1) - d) / 10) fail("shape dimension overflows size_t");
                v = v * 10 + d;
                ++i_;
            }
            if (peek() == 'L') ++i_;  // Python 2 long suffix
            shape.push_back(v);
            skip_ws();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            skip_ws();
            expect(')');
            break;
        }
        // "(3)" is an int in Python, not a tuple; numpy never writes it but accepting it is harmless.
        return shape;
    }
    std::string normalise_descr(const std::string& d, std::size_t at) const {
        static constexpr std::string_view supported =
            "supported: little-endian b1, i1, i2, i4, i8, u1, u2, u4, u8, f2, f4, f8";
        auto bad = [&](const std::string& why) -> std::string {
            throw io_error(path_, at, "unsupported dtype '" + d + "' (" + why + "; " + std::string(supported) + ")");
        };
        if (d.size() != 3) return bad("not a simple numeric dtype");
        const char order = d[0], kind = d[1], size = d[2];
        if (order == '>') return bad("big-endian");
        if (order != '<' && order != '|' && order != '=') return bad("unknown byte order");
        const std::string core = d.substr(1);
        static constexpr std::string_view ok[] = {"b1", "i1", "i2", "i4", "i8", "u1",
                                                  "u2", "u4", "u8", "f2", "f4", "f8"};
        for (auto k : ok)
            if (core == k) {
                if (order == '|' && size != '1') return bad("'|' byte order on a multi-byte type");
                return core;
            }
        if (kind == 'c') return bad("complex");
        if (kind == 'O') return bad("Python objects");
        return bad("unknown kind or size");
    }

    std::string_view s_;
    std::size_t base_;
    const std::string& path_;
    std::size_t i_ = 0;
};

inline std::uint32_t read_le(const std::byte* p, std::size_t n) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
    return v;
}

/// Parses and validates the header of an in-memory .npy file of `size` bytes.
inline npy_header npy_parse(const std::byte* p, std::size_t size, const std::string& path) {
    static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 6 || std::memcmp(p, magic, 6) != 0) {
        std::size_t at = 0;
        while (at < 6 && at < size && static_cast<unsigned char>(p[at]) == magic[at]) ++at;
        throw io_error(path, at, size < 6 && at == size ? "file too short for the .npy magic"
                                                         : "not a .npy file (bad magic; expected \\x93NUMPY)");
    }
    if (size < 8) throw io_error(path, size, "truncated .npy header (no version)");
    const unsigned major = static_cast<unsigned>(p[6]);
    if (major < 1 || major > 3)
        throw io_error(path, 6, "unsupported .npy format version " + std::to_string(major) + "." +
                                    std::to_string(static_cast<unsigned>(p[7])));
    const std::size_t len_bytes = major == 1 ? 2 : 4;
    if (size < 8 + len_bytes) throw io_error(path, size, "truncated .npy header (no header length)");
    const std::size_t header_len = read_le(p + 8, len_bytes);
    const std::size_t header_at = 8 + len_bytes;
    if (header_len > size - header_at)
        throw io_error(path, 8, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                                    std::to_string(size) + " bytes)");
    std::string_view text(reinterpret_cast<const char*>(p + header_at), header_len);
    for (std::size_t i = 0; i < text.size(); ++i)
        if (text[i] == '\0') throw io_error(path, header_at + i, "NUL byte in the .npy header");
    npy_header h = npy_dict_parser(text, header_at, path).parse();
    h.data_offset = header_at + header_len;
    std::size_t n = 0;
    try {
        n = numel(h.shape);
    } catch (const shape_error&) {
        throw io_error(path, header_at, "shape " + to_string(h.shape) + " has more elements than size_t holds");
    }
    const std::size_t item = static_cast<std::size_t>(h.dtype[1] - '0');
    if (n > static_cast<std::size_t>(-1) / item)
        throw io_error(path, header_at, "shape " + to_string(h.shape) + " of " + h.dtype + " overflows size_t bytes");
    h.data_bytes = n * item;
    const std::size_t have = size - h.data_offset;
    if (have < h.data_bytes)
        throw io_error(path, size, "data is truncated: shape " + to_string(h.shape) + " of " + h.dtype + " needs " +
                                       std::to_string(h.data_bytes) + " bytes after offset " +
                                       std::to_string(h.data_offset) + ", the file has " + std::to_string(have));
    if (have > h.data_bytes)
        throw io_error(path, h.data_offset + h.data_bytes,
                       std::to_string(have - h.data_bytes) + " unexpected trailing bytes after the array data");
    return h;
}

/// Copies `src` (Fortran order, shape `shape`, elements of `item` bytes) to `dst` in C order.
inline void fortran_to_c(const std::byte* src, std::byte* dst, const shape_t& shape, std::size_t item) {
    const std::size_t n = numel(shape);
    if (n == 0) return;
    const std::size_t order = shape.size();
    std::vector<std::size_t> fstride(order), idx(order, 0);
    std::size_t st = 1;
    for (std::size_t k = 0; k < order; ++k) {
        fstride[k] = st;
        st *= shape[k];
    }
    std::size_t off = 0;  // Fortran element offset of the current C-order multi-index
    for (std::size_t c = 0; c < n; ++c) {
        std::memcpy(dst + c * item, src + off * item, item);
        for (std::size_t k = order; k-- > 0;) {  // increment the last index first (C order)
            if (++idx[k] < shape[k]) {
                off += fstride[k];
                break;
            }
            off -= fstride[k] * (shape[k] - 1);
            idx[k] = 0;
        }
    }
}

/// Converts `n` little-endian elements of numpy dtype `dtype` at `src` to T.
template <class T>
void npy_convert_elements(const std::byte* src, const std::string& dtype, std::size_t n, T* dst) {
    auto each = [&](auto tag) {
        using S = decltype(tag);
        for (std::size_t i = 0; i < n; ++i) {
            S v;
            std::memcpy(&v, src + i * sizeof(S), sizeof(S));
            dst[i] = static_cast<T>(v);
        }
    };
    if (dtype == "f2") {
        for (std::size_t i = 0; i < n; ++i) {
            std::uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = static_cast<T>(half_to_float(h));
        }
    } else if (dtype == "f4") each(float{});
    else if (dtype == "f8") each(double{});
    else if (dtype == "i1") each(std::int8_t{});
    else if (dtype == "i2") each(std::int16_t{});
    else if (dtype == "i4") each(std::int32_t{});
    else if (dtype == "i8") each(std::int64_t{});
    else if (dtype == "u1") each(std::uint8_t{});
    else if (dtype == "u2") each(std::uint16_t{});
    else if (dtype == "u4") each(std::uint32_t{});
    else if (dtype == "u8") each(std::uint64_t{});
    else if (dtype == "b1") {
        for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<T>(src[i] != std::byte{0});
    }
}

inline std::string npy_header_text(std::string_view dtype, const shape_t& shape) {
    std::string h = "{'descr': '";
    h += (dtype[1] == '1') ? '|' : '<';
    h += dtype;
    h += "', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) h += ", ";
        h += std::to_string(shape[i]);
    }
    if (shape.size() == 1) h += ',';  // a 1-tuple
    h += "), }";
    return h;
}

inline void npy_write(const std::string& path, std::string_view dtype, const shape_t& shape, const void* data,
                      std::size_t bytes) {
    std::string h = npy_header_text(dtype, shape);
    // Pad with spaces and a final '\n' so that the data starts on a 64-byte boundary.
    std::size_t prefix = 10;
    std::size_t total = prefix + h.size() + 1;
    if ((total + 63) / 64 * 64 - prefix > 0xffff) prefix = 12;  // needs format 2.0
    total = prefix + h.size() + 1;
    h.append((64 - total % 64) % 64, ' ');
    h += '\n';
    std::string pre("\x93NUMPY", 6);
    pre += static_cast<char>(prefix == 10 ? 1 : 2);
    pre += '\0';
    const std::size_t len = h.size();
    for (std::size_t i = 0; i < prefix - 8; ++i) pre += static_cast<char>((len >> (8 * i)) & 0xff);
    atomic_writer out(path);
    out.write(pre);
    out.write(h);
    if (bytes) out.write(data, bytes);
    out.commit();
}

}  // namespace detail

/// A parsed .npy header: dtype ("f4", "i2", ...), shape, order, and where the data lies.
using npy_header = detail::npy_header;

/// Parses and validates the header of an in-memory .npy file of `size` bytes exactly as
/// npy_load does: on success the data range [data_offset, data_offset + data_bytes) lies inside
/// the buffer; otherwise io_error naming `name` and the byte offset. (For bytes already in
/// memory: fuzzers, archive members.)
inline npy_header parse_npy_header(const std::byte* p, std::size_t size, const std::string& name) {
    return detail::npy_parse(p, size, name);
}

/// Reads a whole .npy file. Fortran-order data is returned in C order. The element type is
/// whatever the file holds (see npy_array::dtype). Throws io_error on any malformed input.
inline npy_array npy_load(const std::string& path) {
    detail::readonly_map f(path);
    const detail::npy_header h = detail::npy_parse(f.data(), f.size(), path);
    npy_array a{h.dtype, h.shape, std::vector<std::byte>(h.data_bytes)};
    const std::byte* src = f.data() + h.data_offset;
    if (h.fortran_order && h.shape.size() > 1)
        detail::fortran_to_c(src, a.data.data(), h.shape, a.itemsize());
    else if (h.data_bytes)
        std::memcpy(a.data.data(), src, h.data_bytes);
    return a;
}

/// Reads a .npy file as elements of type T (C order) and sets `shape`.
/// With npy_convert::exact (the default) the file's dtype must be npy_dtype_of<T>();
/// with npy_convert::to_requested any numeric dtype is converted (T must be float or double).
template <class T>
std::vector<T> npy_load_as(const std::string& path, shape_t& shape, npy_convert conv = npy_convert::exact) {
    detail::readonly_map f(path);
    const detail::npy_header h = detail::npy_parse(f.data(), f.size(), path);
    const std::string want(npy_dtype_of<T>());
    const bool same = h.dtype == want;
    if (!same && !(conv == npy_convert::to_requested && std::is_floating_point_v<T>))
        throw io_error(path, h.descr_offset,
                       "holds dtype " + h.dtype + ", expected " + want +
                           (std::is_floating_point_v<T> ? " (pass npy_convert::to_requested to convert)" : ""));
    const std::size_t n = numel(h.shape);
    std::vector<T> out(n);
    const std::byte* src = f.data() + h.data_offset;
    std::vector<std::byte> c_order;
    if (h.fortran_order && h.shape.size() > 1) {
        c_order.resize(h.data_bytes);
        detail::fortran_to_c(src, c_order.data(), h.shape, h.data_bytes / (n ? n : 1));
        src = c_order.data();
    }
    if (same) {
        if (n) std::memcpy(out.data(), src, n * sizeof(T));
    } else {
        detail::npy_convert_elements(src, h.dtype, n, out.data());
    }
    shape = h.shape;
    return out;
}

/// Writes `numel(shape)` elements of `data` (C order) as a .npy file, atomically.
template <class T>
void npy_save(const std::string& path, const T* data, const shape_t& shape) {
    const std::size_t n = numel(shape);
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw shape_error("npy_save: byte size overflows size_t");
    detail::npy_write(path, npy_dtype_of<T>(), shape, data, n * sizeof(T));
}

template <class T>
void npy_save(const std::string& path, const std::vector<T>& data, const shape_t& shape) {
    if (data.size() != numel(shape))
        throw shape_error("npy_save: " + std::to_string(data.size()) + " elements do not fill shape " +
                          to_string(shape));
    npy_save(path, data.data(), shape);
}

/// Writes an npy_array (any supported dtype), atomically.
inline void npy_save(const std::string& path, const npy_array& a) {
    static constexpr std::string_view ok[] = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"};
    bool known = false;
    for (auto k : ok) known = known || a.dtype == k;
    if (!known) throw invalid_argument("npy_save: unsupported dtype '" + a.dtype + "'");
    if (a.data.size() != a.size() * a.itemsize())
        throw shape_error("npy_save: " + std::to_string(a.data.size()) + " bytes do not fill shape " +
                          to_string(a.shape) + " of " + a.dtype);
    detail::npy_write(path, a.dtype, a.shape, a.data.data(), a.data.size());
}

}  // namespace lowrank

// GGUF writer (format version 3): metadata copied from an input file (tokenizer included) plus
// F32/F16 tensors given as float data (or bytes copied verbatim from an input tensor), laid out
// with the file's alignment (general.alignment, default 32). The write is atomic: the bytes go
// to a temporary file in the destination directory, which is fsync'ed and renamed over `path`;
// on any failure the temporary is removed and `path` is untouched.
//
// Layout conventions match gguf.hpp: `shape` is the PyTorch order (matrices [out, in]) and
// `data` is C-order in that shape; the writer stores ne = reversed(shape). For Llama q/k weights
// held in Hugging Face row order, set permute_heads (see llama_qk_heads) and the converter's
// permutation is re-applied so llama.cpp reads the file as it reads its own.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lowrank/core/errors.hpp"
#include "lowrank/core/half.hpp"
#include "lowrank/io/gguf.hpp"
#include "lowrank/io/gguf_dequant.hpp"

namespace lowrank {

/// One tensor to write. Exactly one source: `data`, `produce` (called once, while writing, so
/// only one tensor need be in memory at a time) or `raw` (already encoded in `type`).
struct gguf_write_tensor {
    std::string name;
    std::vector<std::uint64_t> shape;              ///< PyTorch order, at most 4 dims
    ggml_type type = ggml_type::f32;               ///< f32 or f16 for float sources; any for raw
    std::span<const float> data;                   ///< C-order values in `shape`
    std::function<std::vector<float>()> produce;   ///< alternative to `data`
    std::span<const unsigned char> raw;            ///< bytes in `type`, copied verbatim
    std::uint32_t permute_heads = 0;               ///< > 0: apply permute_qk_rows(n_head) first
};

/// A tensor of an input file copied verbatim (its own type and bytes). `f` must outlive the write.
inline gguf_write_tensor gguf_copy_tensor(const gguf_file& f, const gguf_tensor_info& t) {
    gguf_write_tensor w;
    w.name = t.name;
    w.shape = t.shape;
    w.type = t.type;
    w.raw = f.tensor_bytes(t);
    return w;
}

/// Writes a GGUF v3 file at `path` atomically. `metadata` is written in order (pass
/// gguf_file::metadata to copy an input's, tokenizer included). Throws invalid_argument for
/// inconsistent tensors (unknown/unsupported type, size mismatch, duplicate names) and
/// io_error naming the file on write failures.
void write_gguf(const std::string& path, const std::vector<gguf_kv>& metadata,
                const std::vector<gguf_write_tensor>& tensors);

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------
namespace detail {

struct gguf_byte_sink {
    std::vector<unsigned char> buf;
    template <class T>
    void put(T v) {
        const std::size_t n = buf.size();
        buf.resize(n + sizeof(T));
        std::memcpy(buf.data() + n, &v, sizeof(T));
    }
    void put_string(const std::string& s) {
        put<std::uint64_t>(s.size());
        buf.insert(buf.end(), s.begin(), s.end());
    }
    void put_value(const gguf_value& v) {
        if (const auto sz = gguf_scalar_size(v.type)) {
            const std::size_t n = buf.size();
            buf.resize(n + sz);
            std::memcpy(buf.data() + n, &v.bits, sz);
        } else if (v.type == gguf_value_type::string) {
            put_string(v.str);
        } else if (v.type == gguf_value_type::array) {
            put<std::uint32_t>(static_cast<std::uint32_t>(v.elem_type));
            put<std::uint64_t>(v.count);
            if (const auto esz = gguf_scalar_size(v.elem_type)) {
                if (v.raw.size() != v.count * esz) throw invalid_argument("GGUF array: raw size does not match count");
                buf.insert(buf.end(), v.raw.begin(), v.raw.end());
            } else if (v.elem_type == gguf_value_type::string) {
                if (v.strings.size() != v.count) throw invalid_argument("GGUF array: string count mismatch");
                for (const auto& s : v.strings) put_string(s);
            } else if (v.elem_type == gguf_value_type::array) {
                if (v.items.size() != v.count) throw invalid_argument("GGUF array: item count mismatch");
                for (const auto& it : v.items) put_value(it);
            } else {
                throw invalid_argument("GGUF array: unknown element type");
            }
        } else {
            throw invalid_argument("GGUF value: unknown type");
        }
    }
};

class gguf_atomic_file {
public:
    explicit gguf_atomic_file(const std::string& path) : path_(path), tmp_(path + ".tmp.XXXXXX") {
        fd_ = ::mkstemp(tmp_.data());
        if (fd_ < 0) throw io_error(path_, std::string("cannot create temporary file: ") + std::strerror(errno));
    }
    gguf_atomic_file(const gguf_atomic_file&) = delete;
    gguf_atomic_file& operator=(const gguf_atomic_file&) = delete;
    ~gguf_atomic_file() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(tmp_.c_str());
    }
    std::uint64_t size() const noexcept { return written_; }
    void write(const unsigned char* p, std::size_t n) {
        while (n > 0) {
            const ssize_t k = ::write(fd_, p, n);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) throw io_error(path_, written_, std::string("write failed: ") + std::strerror(errno));
            p += k;
            n -= static_cast<std::size_t>(k);
            written_ += static_cast<std::uint64_t>(k);
        }
    }
    void pad_to(std::uint64_t offset) {
        static const unsigned char zeros[64] = {};
        while (written_ < offset) write(zeros, static_cast<std::size_t>(std::min<std::uint64_t>(64, offset - written_)));
    }
    void commit() {
        if (::fsync(fd_) != 0) throw io_error(path_, std::string("fsync failed: ") + std::strerror(errno));
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) throw io_error(path_, std::string("close failed: ") + std::strerror(errno));
        ::chmod(tmp_.c_str(), 0644);
        if (::rename(tmp_.c_str(), path_.c_str()) != 0)
            throw io_error(path_, std::string("rename failed: ") + std::strerror(errno));
        committed_ = true;
    }

private:
    std::string path_, tmp_;
    int fd_ = -1;
    bool committed_ = false;
    std::uint64_t written_ = 0;
};

}  // namespace detail

inline void write_gguf(const std::string& path, const std::vector<gguf_kv>& metadata,
                       const std::vector<gguf_write_tensor>& tensors) {
    std::uint64_t alignment = 32;
    std::unordered_set<std::string> keys;
    for (const auto& kv : metadata) {
        if (!keys.insert(kv.key).second) throw invalid_argument("write_gguf: duplicate metadata key '" + kv.key + "'");
        if (kv.key == "general.alignment") {
            if (kv.value.type != gguf_value_type::uint32) throw invalid_argument("write_gguf: general.alignment must be u32");
            alignment = kv.value.get<std::uint32_t>();
            if (alignment == 0 || (alignment & (alignment - 1)))
                throw invalid_argument("write_gguf: general.alignment must be a power of two");
        }
    }
    // Validate tensors and lay out the data section.
    std::vector<std::uint64_t> offsets, sizes, counts;
    std::unordered_set<std::string> names;
    std::uint64_t data_size = 0;
    for (const auto& t : tensors) {
        const std::string who = "write_gguf: tensor '" + t.name + "': ";
        if (!names.insert(t.name).second) throw invalid_argument(who + "duplicate name");
        if (t.shape.size() > 4) throw invalid_argument(who + "more than 4 dimensions");
        const auto tr = ggml_traits(t.type);
        if (tr.block_size == 0) throw invalid_argument(who + "unknown ggml type");
        const bool float_src = t.raw.empty();
        if (float_src && t.type != ggml_type::f32 && t.type != ggml_type::f16)
            throw invalid_argument(who + "float data can be written as F32 or F16 only");
        std::uint64_t n = 1;
        for (auto d : t.shape) {
            if (d != 0 && n > (std::uint64_t{1} << 62) / d) throw invalid_argument(who + "too many elements");
            n *= d;
        }
        const std::uint64_t ne0 = t.shape.empty() ? 1 : t.shape.back();
        if (ne0 % tr.block_size) throw invalid_argument(who + "innermost dimension is not a multiple of the block size");
        const std::uint64_t bytes = n / tr.block_size * tr.type_size;
        if (!float_src && t.raw.size() != bytes) throw invalid_argument(who + "raw byte count does not match shape and type");
        if (float_src && !t.produce && t.data.size() != n) throw invalid_argument(who + "data size does not match shape");
        if (t.permute_heads && !t.shape.empty() && t.shape[0] % (2ull * t.permute_heads))
            throw invalid_argument(who + "rows do not split into permute_heads heads of even size");
        data_size = (data_size + alignment - 1) / alignment * alignment;
        offsets.push_back(data_size);
        sizes.push_back(bytes);
        counts.push_back(n);
        data_size += bytes;
    }

    detail::gguf_byte_sink h;
    h.buf.assign({'G', 'G', 'U', 'F'});
    h.put<std::uint32_t>(3);
    h.put<std::uint64_t>(tensors.size());
    h.put<std::uint64_t>(metadata.size());
    for (const auto& kv : metadata) {
        h.put_string(kv.key);
        h.put<std::uint32_t>(static_cast<std::uint32_t>(kv.value.type));
        h.put_value(kv.value);
    }
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        h.put_string(t.name);
        h.put<std::uint32_t>(static_cast<std::uint32_t>(t.shape.size()));
        for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) h.put<std::uint64_t>(*it);
        h.put<std::uint32_t>(static_cast<std::uint32_t>(t.type));
        h.put<std::uint64_t>(offsets[i]);
    }

    detail::gguf_atomic_file out(path);
    out.write(h.buf.data(), h.buf.size());
    const std::uint64_t data_start = (out.size() + alignment - 1) / alignment * alignment;
    out.pad_to(data_start);
    std::vector<unsigned char> bytes;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        out.pad_to(data_start + offsets[i]);
        if (!t.raw.empty()) {
            out.write(t.raw.data(), t.raw.size());
            continue;
        }
        std::vector<float> produced;
        std::span<const float> src = t.data;
        if (t.produce) {
            produced = t.produce();
            if (produced.size() != counts[i])
                throw invalid_argument("write_gguf: tensor '" + t.name + "': produced data size does not match shape");
            src = produced;
        }
        std::vector<float> permuted;
        if (t.permute_heads) {
            const std::uint64_t rows = t.shape.empty() ? 1 : t.shape[0];
            permuted = permute_qk_rows<float>(src, rows, rows ? counts[i] / rows : 0, t.permute_heads);
            src = permuted;
        }
        bytes.resize(static_cast<std::size_t>(sizes[i]));
        if (t.type == ggml_type::f32) {
            if (!src.empty()) std::memcpy(bytes.data(), src.data(), bytes.size());
        } else {
            for (std::size_t k = 0; k < src.size(); ++k) {
                const std::uint16_t v = float_to_half(src[k]);
                std::memcpy(bytes.data() + 2 * k, &v, 2);
            }
        }
        out.write(bytes.data(), bytes.size());
    }
    out.commit();
}

}  // namespace lowrank

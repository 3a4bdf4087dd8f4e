// POSIX file helpers shared by the io readers and writers: a read-only memory map and an
// atomic writer (temp file in the destination's directory, then rename).
//
// Both report failures as lowrank::io_error naming the file. Nothing here prints.
#pragma once

#include "lowrank/core/errors.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lowrank::detail {

inline std::string errno_text(int err) { return std::strerror(err); }

/// The 8 little-endian bytes of `v`.
inline std::string le_bytes(std::uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

/// A read-only, private memory map of a whole regular file (zero-copy access to its bytes).
/// Move-only. An empty file maps to (nullptr, 0).
class readonly_map {
public:
    readonly_map() = default;
    explicit readonly_map(std::string path) : path_(std::move(path)) {
        int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw io_error(path_, "cannot open: " + errno_text(errno));
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            int e = errno;
            ::close(fd);
            throw io_error(path_, "cannot stat: " + errno_text(e));
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            throw io_error(path_, "not a regular file");
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                int e = errno;
                ::close(fd);
                throw io_error(path_, "cannot mmap: " + errno_text(e));
            }
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd);
    }
    readonly_map(const readonly_map&) = delete;
    readonly_map& operator=(const readonly_map&) = delete;
    readonly_map(readonly_map&& o) noexcept { swap(o); }
    readonly_map& operator=(readonly_map&& o) noexcept {
        if (this != &o) {
            reset();
            swap(o);
        }
        return *this;
    }
    ~readonly_map() { reset(); }

    const std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    const std::string& path() const noexcept { return path_; }

private:
    void reset() noexcept {
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
        data_ = nullptr;
        size_ = 0;
    }
    void swap(readonly_map& o) noexcept {
        std::swap(path_, o.path_);
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
    }
    std::string path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// Drops the pages of bytes [p, p + n) — which must lie inside a readonly_map (a read-only,
/// private file mapping that is never written) — from the process's resident set
/// (madvise MADV_DONTNEED, widened to whole pages). The bytes stay valid: a later read faults
/// them back in from the file (they usually still sit in the page cache). Never call it on
/// memory that is not such a file mapping: on anonymous memory MADV_DONTNEED discards contents.
/// Best effort: a failing madvise is ignored (the pages merely stay resident).
inline void release_mapped_pages(const void* p, std::size_t n) noexcept {
    if (!p || n == 0) return;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(p) & ~(page - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(p) + n + page - 1) & ~(page - 1);
    (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

/// Writes a file atomically: bytes go to a temp file in the destination's directory, which
/// is fsync'ed and renamed over `path` by commit(). If commit() is never reached (an
/// exception, an interrupted process) no partial file appears under the final name; the
/// destructor removes the temp file.
class atomic_writer {
public:
    explicit atomic_writer(std::string path) : path_(std::move(path)) {
        tmp_ = path_ + ".tmp.XXXXXX";
        fd_ = ::mkstemp(tmp_.data());
        if (fd_ < 0) throw io_error(path_, "cannot create temporary file " + tmp_ + ": " + errno_text(errno));
        // mkstemp creates 0600; give the result the usual permissions (umask applied).
        mode_t mask = ::umask(0);
        ::umask(mask);
        ::fchmod(fd_, 0666 & ~mask);
    }
    atomic_writer(const atomic_writer&) = delete;
    atomic_writer& operator=(const atomic_writer&) = delete;
    ~atomic_writer() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(tmp_.c_str());
    }

    void write(const void* data, std::size_t n) {
        const char* p = static_cast<const char*>(data);
        while (n > 0) {
            ssize_t w = ::write(fd_, p, n);
            if (w < 0) {
                if (errno == EINTR) continue;
                throw io_error(path_, written_, "write failed: " + errno_text(errno));
            }
            p += w;
            n -= static_cast<std::size_t>(w);
            written_ += static_cast<std::uint64_t>(w);
        }
    }
    void write(std::string_view s) { write(s.data(), s.size()); }
    std::uint64_t bytes_written() const noexcept { return written_; }

    /// Flushes, closes and renames the temp file to the final name.
    void commit() {
        if (::fsync(fd_) != 0) throw io_error(path_, "fsync failed: " + errno_text(errno));
        int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) throw io_error(path_, "close failed: " + errno_text(errno));
        if (::rename(tmp_.c_str(), path_.c_str()) != 0)
            throw io_error(path_, "cannot rename " + tmp_ + " to the final name: " + errno_text(errno));
        committed_ = true;
    }

private:
    std::string path_;
    std::string tmp_;
    int fd_ = -1;
    bool committed_ = false;
    std::uint64_t written_ = 0;
};

}  // namespace lowrank::detail

// Small host/backend helpers shared by the compress/ headers: precision conversion of backend
// tensors (through the host), host copies, finiteness and symmetry of host matrices.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/core/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace lowrank::detail::compress {

/// Host copy of a backend tensor.
template <backend_context Ctx, class Tensor>
std::vector<typename Tensor::value_type> to_host(Ctx& ctx, const Tensor& t) {
    using B = backend_of<Ctx>;
    std::vector<typename Tensor::value_type> v(numel(B::shape(t)));
    if (!v.empty()) B::download(ctx, t, v.data());
    return v;
}

/// The backend tensor `t` converted to element type U (a plain copy when the types agree; a
/// round trip through the host otherwise, since the backend contract has no cast).
template <class U, backend_context Ctx, class Tensor>
tensor_t<backend_of<Ctx>, U> convert(Ctx& ctx, const Tensor& t) {
    using B = backend_of<Ctx>;
    using T = typename Tensor::value_type;
    const shape_t s = B::shape(t);
    if constexpr (std::is_same_v<T, U>) {
        auto out = B::template empty<U>(ctx, s);
        B::copy(ctx, numel(s), B::data(t), B::data(out));
        return out;
    } else {
        const auto h = to_host(ctx, t);
        std::vector<U> c(h.begin(), h.end());
        return B::template upload<U>(ctx, c.data(), s);
    }
}

/// Uploads host values of type S as a backend tensor of type U.
template <class U, backend_context Ctx, class S>
tensor_t<backend_of<Ctx>, U> upload_as(Ctx& ctx, std::span<const S> host, const shape_t& s) {
    using B = backend_of<Ctx>;
    if constexpr (std::is_same_v<S, U>) {
        return B::template upload<U>(ctx, host.data(), s);
    } else {
        std::vector<U> c(host.begin(), host.end());
        return B::template upload<U>(ctx, c.data(), s);
    }
}

template <class S>
bool all_finite(std::span<const S> x) {
    return std::all_of(x.begin(), x.end(), [](S v) { return std::isfinite(v); });
}

/// Checks that `gram` holds n·n values (shape_error naming `what` otherwise).
inline void require_square(std::span<const double> gram, std::size_t n, const char* what) {
    if (n == 0) throw shape_error(std::string(what) + ": the Gram matrix is empty (0 channels)");
    if (gram.size() != n * n)
        throw shape_error(std::string(what) + ": a Gram matrix of " + std::to_string(n) + " channels needs " +
                          std::to_string(n * n) + " values, got " + std::to_string(gram.size()));
}

}  // namespace lowrank::detail::compress

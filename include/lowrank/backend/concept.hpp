// The backend abstraction every algorithm is written against.
//
// A backend B is a type with static member functions over dense, row-major (C-order)
// buffers that live in the backend's memory space (host memory for the CPU backends,
// device memory for CUDA). Algorithms never touch tensor elements directly: they call
// these operations and move only small host-side vectors (singular values, eigenvalues,
// norms) across. Everything runs against an explicit `B::context` (threads on CPU; stream,
// library handles and workspace on CUDA); there is no global state.
//
// Required members of B (T is float or double; `op` is lowrank::op; all matrices row-major
// with leading dimension = row stride in elements):
//
//   typename B::context;                              with `using backend_type = B;`
//   template <class T> using tensor = ...;            owning dense tensor (shape + storage):
//                                                     default-constructible, copyable (deep copy),
//                                                     movable, with `value_type`
//
// Pointer arguments named *_host (s_host, w_host, d_host) are host memory on every backend;
// all other pointers are backend memory (device memory for CUDA).
//   B::name                                           "xtensor", "reference", "cuda"
//   B::empty<T>(ctx, shape) -> tensor<T>              uninitialised
//   B::zeros<T>(ctx, shape) -> tensor<T>
//   B::shape(const tensor<T>&) -> shape_t
//   B::data(tensor<T>&) -> T*,  B::data(const tensor<T>&) -> const T*
//   B::reshape(tensor<T>&, shape_t)                   same element count, no data movement
//   B::upload<T>(ctx, const T* host, shape) -> tensor<T>       host → backend copy
//   B::download(ctx, const tensor<T>&, T* host)                backend → host copy
//   B::copy(ctx, n, const T* x, T* y)                 y ← x
//   B::gemm(ctx, op ta, op tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
//         C (m×n) ← alpha·op(A)·op(B) + beta·C
//   B::gemm_strided_batched(ctx, ta, tb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB,
//         beta, C, ldc, strideC, batch)               batch independent gemms at fixed strides
//   B::syrk(ctx, op t, n, k, alpha, A, lda, beta, C, ldc)
//         C (n×n) ← alpha·A·Aᵀ + beta·C (t = none, A is n×k) or alpha·Aᵀ·A + beta·C (t = trans,
//         A is k×n); both triangles of C are filled on return
//   B::copy_2d(ctx, rows, cols, src, ld_src, dst, ld_dst)   copies a strided sub-matrix
//   B::svd(ctx, m, n, A, s_host, U, Vt, svd_driver) -> int
//         thin SVD of the m×n matrix A (destroyed): U m×k, s k values descending (host
//         memory), Vt k×n, k = min(m, n). Returns LAPACK-style info (0 = success, > 0 =
//         no convergence); throws backend_error on argument/allocation failures.
//   B::syevd(ctx, n, A, w_host) -> int
//         symmetric eigendecomposition of the n×n matrix A: eigenvalues ascending into w
//         (host), eigenvector i into ROW i of A.
//   B::potrf(ctx, n, A) -> int
//         Cholesky factorisation of the symmetric positive definite n×n matrix A (both
//         triangles hold A on entry): on return A holds the lower-triangular L with A = L·Lᵀ
//         and positive diagonal, its strict upper triangle set to zero. Returns 0, or i > 0
//         when the leading minor of order i is not positive definite (A is then partially
//         overwritten and must not be used). NaN/Inf input gives an unspecified result
//         (OpenBLAS does not flag a NaN pivot): callers check finiteness first.
//   B::trsm(ctx, side s, op t, m, n, alpha, L, ldl, X, ldx)
//         triangular solve with the lower-triangular, non-unit L (what potrf returns):
//         side::left:  X (m×n) ← alpha·op(L)⁻¹·X, L is m×m;
//         side::right: X (m×n) ← alpha·X·op(L)⁻¹, L is n×n.
//         A zero on L's diagonal gives Inf/NaN in X, as in BLAS (callers check).
//   B::orthonormalize_columns(ctx, m, n, A) -> int
//         replaces the m×n matrix A (m ≥ n) by the Q factor of its thin QR (orthonormal columns
//         spanning range(A); rank deficiency is filled with orthonormal completions).
//   B::transpose(ctx, m, n, const T* A, T* B)         B (n×m) ← Aᵀ (A is m×n)
//   B::swap_outer(ctx, a, b, c, const T* X, T* Y)     Y(b, a, c) ← X(a, b, c)  (unfold/fold)
//   B::scale_columns(ctx, m, n, A, const T* d_host)   A(:, j) ← d[j]·A(:, j)
//   B::nrm2(ctx, n, x) -> T,   B::dot(ctx, n, x, y) -> T
//   B::axpy(ctx, n, alpha, x, y)                      y ← alpha·x + y
//   B::scal(ctx, n, alpha, x)                         x ← alpha·x
//   B::all_finite(ctx, n, x) -> bool
#pragma once

#include "lowrank/core/shape.hpp"

#include <concepts>
#include <cstddef>
#include <type_traits>

namespace lowrank {

/// Transposition of a GEMM operand.
enum class op { none, trans };

inline constexpr op flip(op o) { return o == op::none ? op::trans : op::none; }

/// Side of a triangular solve: op(L)⁻¹·X (left) or X·op(L)⁻¹ (right).
enum class side { left, right };

/// LAPACK driver for the exact thin SVD.
enum class svd_driver {
    gesdd,  ///< divide and conquer (fast); falls back to gesvd when it fails to converge
    gesvd,  ///< QR iteration (slower, most robust)
};

/// Element types the library is instantiated for.
template <class T>
concept real_scalar = std::same_as<T, float> || std::same_as<T, double>;

/// The compile-time contract of a backend for element type T (see the header comment for
/// the semantics of each operation).
template <class B, class T>
concept backend_for =
    real_scalar<T> &&
    requires(typename B::context& ctx, typename B::template tensor<T>& t,
             const typename B::template tensor<T>& ct, const shape_t& s, T* p, const T* cp,
             std::size_t n, T alpha) {
        { B::name } -> std::convertible_to<const char*>;
        { B::template empty<T>(ctx, s) } -> std::same_as<typename B::template tensor<T>>;
        { B::template zeros<T>(ctx, s) } -> std::same_as<typename B::template tensor<T>>;
        { B::shape(ct) } -> std::convertible_to<shape_t>;
        { B::data(t) } -> std::same_as<T*>;
        { B::data(ct) } -> std::same_as<const T*>;
        B::reshape(t, s);
        { B::template upload<T>(ctx, cp, s) } -> std::same_as<typename B::template tensor<T>>;
        B::download(ctx, ct, p);
        B::copy(ctx, n, cp, p);
        B::gemm(ctx, op::none, op::none, n, n, n, alpha, cp, n, cp, n, alpha, p, n);
        B::gemm_strided_batched(ctx, op::none, op::none, n, n, n, alpha, cp, n, n, cp, n, n, alpha, p,
                                n, n, n);
        B::syrk(ctx, op::none, n, n, alpha, cp, n, alpha, p, n);
        B::copy_2d(ctx, n, n, cp, n, p, n);
        { B::svd(ctx, n, n, p, p, p, p, svd_driver::gesdd) } -> std::convertible_to<int>;
        { B::syevd(ctx, n, p, p) } -> std::convertible_to<int>;
        { B::potrf(ctx, n, p) } -> std::convertible_to<int>;
        B::trsm(ctx, side::left, op::none, n, n, alpha, cp, n, p, n);
        { B::orthonormalize_columns(ctx, n, n, p) } -> std::convertible_to<int>;
        B::transpose(ctx, n, n, cp, p);
        B::swap_outer(ctx, n, n, n, cp, p);
        B::scale_columns(ctx, n, n, p, cp);
        { B::nrm2(ctx, n, cp) } -> std::convertible_to<T>;
        { B::dot(ctx, n, cp, cp) } -> std::convertible_to<T>;
        B::axpy(ctx, n, alpha, cp, p);
        B::scal(ctx, n, alpha, p);
        { B::all_finite(ctx, n, cp) } -> std::convertible_to<bool>;
    };

/// A backend usable with both float and double.
template <class B>
concept backend = backend_for<B, float> && backend_for<B, double>;

/// The owning tensor type of backend B for element type T.
template <class B, class T>
using tensor_t = typename B::template tensor<T>;

}  // namespace lowrank

namespace lowrank {

/// A backend context: carries its backend type so algorithms can be called as
/// `f(ctx, tensor, ...)` without naming the backend.
template <class Ctx>
concept backend_context = requires { typename Ctx::backend_type; };

/// The backend of a context type.
template <class Ctx>
using backend_of = typename Ctx::backend_type;

}  // namespace lowrank

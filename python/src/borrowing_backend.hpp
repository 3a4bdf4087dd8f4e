// A backend adaptor for the Python bindings: the storage and operations of a library backend
// (xtensor_backend or cuda_backend) plus read-only *views* of caller memory, so a numpy / torch /
// cupy array enters the library's algorithms without being copied.
//
// Why an adaptor: every algorithm of the library is written against one tensor type per backend
// (backend/concept.hpp) and reads its inputs only through B::shape and the const B::data. The
// adaptor's tensor, view_or_owned<Owned>, is either an owning tensor of the base backend (every
// result and temporary the algorithms make) or a non-owning, read-only view of memory the caller
// owns (the inputs). All numerical operations are the base backend's, unchanged.
//
// Contract of a view:
//   - B::data(const tensor&) returns the caller's pointer; B::shape returns the view's shape.
//   - Write access (the non-const B::data) throws lowrank::error: the library never writes to its
//     inputs, so this guards an invariant instead of silently corrupting a caller's array.
//   - Copying a view copies the view (both stay read-only views of the same memory).
//   - The caller keeps the memory alive and unchanged while the view is in use.
#pragma once

#include "lowrank/backend/concept.hpp"
#include "lowrank/core/errors.hpp"
#include "lowrank/core/shape.hpp"

#include <string>
#include <utility>

namespace lowrank::python {

template <class Owned>
class view_or_owned {
public:
    using value_type = typename Owned::value_type;
    using T = value_type;

    view_or_owned() = default;
    explicit view_or_owned(Owned o) : owned_(std::move(o)) {}

    /// A read-only view of `numel(shape)` elements at `data` (C order), in the base backend's
    /// memory space (host memory for xtensor_backend, device memory for cuda_backend).
    static view_or_owned view(const T* data, shape_t shape) {
        view_or_owned t;
        t.view_ = data;
        t.view_shape_ = std::move(shape);
        t.is_view_ = true;
        return t;
    }

    bool is_view() const noexcept { return is_view_; }
    const T* view_data() const noexcept { return view_; }
    const shape_t& view_shape() const noexcept { return view_shape_; }

    Owned& owned() {
        require_owned("owned()");
        return owned_;
    }
    const Owned& owned() const {
        require_owned("owned()");
        return owned_;
    }
    void set_view_shape(shape_t s) { view_shape_ = std::move(s); }

    void require_owned(const char* what) const {
        if (is_view_)
            throw error(std::string("lowrank python bindings: ") + what +
                        " on a read-only view of a caller's array (internal error: the library wrote to an input)");
    }

private:
    Owned owned_{};
    const T* view_ = nullptr;
    shape_t view_shape_;
    bool is_view_ = false;
};

/// Base's operations with view_or_owned storage; see the header comment.
template <class Base>
struct borrowing_backend : Base {
    struct context : Base::context {
        using backend_type = borrowing_backend;
        using Base::context::context;
    };

    template <class T>
    using tensor = view_or_owned<typename Base::template tensor<T>>;

    template <class T>
    static tensor<T> empty(context& ctx, const shape_t& s) {
        return tensor<T>(Base::template empty<T>(ctx, s));
    }
    template <class T>
    static tensor<T> zeros(context& ctx, const shape_t& s) {
        return tensor<T>(Base::template zeros<T>(ctx, s));
    }
    template <class T>
    static shape_t shape(const tensor<T>& t) {
        return t.is_view() ? t.view_shape() : shape_t(Base::shape(t.owned()));
    }
    template <class T>
    static T* data(tensor<T>& t) {
        t.require_owned("write access");
        return Base::data(t.owned());
    }
    template <class T>
    static const T* data(const tensor<T>& t) {
        return t.is_view() ? t.view_data() : Base::data(t.owned());
    }
    template <class T>
    static void reshape(tensor<T>& t, const shape_t& s) {
        if (!t.is_view()) return Base::reshape(t.owned(), s);
        if (numel(s) != numel(t.view_shape()))
            throw shape_error("reshape: cannot view " + std::to_string(numel(t.view_shape())) + " elements as " +
                              to_string(s));
        t.set_view_shape(s);
    }
    template <class T>
    static tensor<T> upload(context& ctx, const T* host, const shape_t& s) {
        return tensor<T>(Base::template upload<T>(ctx, host, s));
    }
    template <class T>
    static void download(context& ctx, const tensor<T>& t, T* host) {
        if (!t.is_view()) return Base::download(ctx, t.owned(), host);
        // A view lives in the base backend's memory space: stage it through an owned copy.
        const std::size_t n = numel(t.view_shape());
        auto staged = Base::template empty<T>(ctx, t.view_shape());
        Base::copy(ctx, n, t.view_data(), Base::data(staged));
        Base::download(ctx, staged, host);
    }
};

}  // namespace lowrank::python

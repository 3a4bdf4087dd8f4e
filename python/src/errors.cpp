// See errors.hpp for the hierarchy.
#include "errors.hpp"

#include "arrays.hpp"
#include "lowrank/compress/allocation.hpp"
#include "lowrank/core/errors.hpp"

#include <exception>
#include <string>

namespace lowrank::python {

namespace {

struct classes {
    PyObject* error = nullptr;
    PyObject* shape = nullptr;
    PyObject* rank = nullptr;
    PyObject* mode = nullptr;
    PyObject* invalid = nullptr;
    PyObject* infeasible = nullptr;
    PyObject* dtype = nullptr;
    PyObject* layout = nullptr;
    PyObject* device = nullptr;
    PyObject* backend = nullptr;
    PyObject* file = nullptr;
};

/// The classes of lowrank._errors, imported on the first error (translators run with the GIL
/// held). Kept for the life of the process, like nanobind's translators.
const classes* load() {
    static classes c;
    static bool loaded = false;
    if (loaded) return &c;
    nanobind::module_ m = nanobind::module_::import_("lowrank._errors");
    auto get = [&](const char* name) { return Py_NewRef(m.attr(name).ptr()); };
    c.error = get("Error");
    c.shape = get("ShapeError");
    c.rank = get("RankError");
    c.mode = get("ModeError");
    c.invalid = get("InvalidArgumentError");
    c.infeasible = get("InfeasibleBudgetError");
    c.dtype = get("DTypeError");
    c.layout = get("LayoutError");
    c.device = get("DeviceError");
    c.backend = get("BackendError");
    c.file = get("FileError");
    loaded = true;
    return &c;
}

void raise_file_error(PyObject* cls, const io_error& e) {
    PyObject* inst = PyObject_CallFunction(cls, "s", e.what());
    if (!inst) return;  // the call set an exception
    PyObject* path = PyUnicode_DecodeFSDefault(e.path.c_str());
    PyObject* offset = e.offset == io_error::npos ? Py_NewRef(Py_None) : PyLong_FromUnsignedLongLong(e.offset);
    if (path && offset) {
        PyObject_SetAttrString(inst, "path", path);
        PyObject_SetAttrString(inst, "offset", offset);
    }
    Py_XDECREF(path);
    Py_XDECREF(offset);
    PyErr_SetObject(cls, inst);
    Py_DECREF(inst);
}

void translate(const std::exception_ptr& p, void*) {
    try {
        std::rethrow_exception(p);
    } catch (const error& e) {
        const classes* c = nullptr;
        try {
            c = load();
        } catch (nanobind::python_error& pe) {
            pe.restore();  // lowrank._errors could not be imported: report that instead
            return;
        }
        PyObject* cls = c->error;
        if (dynamic_cast<const dtype_error*>(&e)) cls = c->dtype;
        else if (dynamic_cast<const layout_error*>(&e)) cls = c->layout;
        else if (dynamic_cast<const device_error*>(&e)) cls = c->device;
        else if (dynamic_cast<const shape_error*>(&e)) cls = c->shape;
        else if (dynamic_cast<const rank_error*>(&e)) cls = c->rank;
        else if (dynamic_cast<const mode_error*>(&e)) cls = c->mode;
        else if (dynamic_cast<const infeasible_budget*>(&e)) cls = c->infeasible;
        else if (dynamic_cast<const invalid_argument*>(&e)) cls = c->invalid;
        else if (dynamic_cast<const backend_error*>(&e)) cls = c->backend;
        else if (const auto* io = dynamic_cast<const io_error*>(&e)) return raise_file_error(c->file, *io);
        PyErr_SetString(cls, e.what());
    }
    // Anything else propagates to nanobind's default translators (std::bad_alloc -> MemoryError, ...).
}

}  // namespace

void register_errors() { nanobind::register_exception_translator(translate); }

}  // namespace lowrank::python

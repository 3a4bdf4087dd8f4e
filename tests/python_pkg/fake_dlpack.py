"""A DLPack producer for arrays that claim to live on a device, built with ctypes only.

The dispatch tests use it to hand the extension "CUDA arrays" on a machine without a GPU (or
without torch/cupy): the data pointer is never dereferenced on the paths tested (a build without
CUDA, no usable device, devices mixed in one call, unsupported device types), which all raise
before any element is read."""
import ctypes

import numpy as np


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                            ("deleter", ctypes.c_void_p)]

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_NAME = b"dltensor"

CUDA, CUDA_HOST, ROCM = 2, 3, 10


class DeviceArray:
    """A C-ordered float array on DLPack device (device_type, device_id) with a dummy pointer."""

    def __init__(self, shape, dtype=np.float32, device_type=CUDA, device_id=0):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.device_type, self.device_id = device_type, device_id
        self._shape = (ctypes.c_int64 * len(shape))(*shape)
        self._mt = []  # keep every exported struct alive as long as this object

    def __dlpack_device__(self):
        return (self.device_type, self.device_id)

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        mt = DLManagedTensor()
        t = mt.dl_tensor
        t.data = 0x10000  # never dereferenced
        t.device = DLDevice(self.device_type, self.device_id)
        t.ndim = len(self.shape)
        t.dtype = DLDataType(2, self.dtype.itemsize * 8, 1)
        t.shape = ctypes.cast(self._shape, ctypes.POINTER(ctypes.c_int64))
        t.strides = None
        t.byte_offset = 0
        mt.deleter = None
        self._mt.append(mt)
        return _capsule_new(ctypes.addressof(mt), _NAME, None)

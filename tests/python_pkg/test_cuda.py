"""CUDA arrays (torch or cupy, through DLPack) on the CUDA backend: results are device arrays
of the caller's framework and agree with the CPU path. Skipped, with the reason, unless this
build has the CUDA backend, a device is visible, and torch (with CUDA) or cupy is installed.
ctest runs this file as python_package_cuda (labels python;cuda)."""
import numpy as np
import pytest

import lowrank

INFO = lowrank.cuda_info()


def frameworks():
    out = []
    try:
        import torch

        if torch.cuda.is_available():
            out.append("torch")
    except ImportError:
        pass
    try:
        import cupy  # noqa: F401

        out.append("cupy")
    except ImportError:
        pass
    return out


def skip_reason():
    if not INFO["built"]:
        return f"no CUDA tests: {INFO['reason']}"
    if INFO["devices"] == 0:
        return f"no CUDA device: {INFO['reason']}"
    if not frameworks():
        return "no CUDA array library (torch with CUDA, or cupy) in this interpreter"
    return ""


# Every test is collected and reported as skipped with the reason (pytest -rs prints it).
pytestmark = pytest.mark.skipif(bool(skip_reason()), reason=skip_reason())
FRAMEWORKS = frameworks() or ["none"]


def to_device(fw, a):
    if fw == "torch":
        import torch

        return torch.as_tensor(np.ascontiguousarray(a), device="cuda")
    import cupy

    return cupy.asarray(a)


def to_device_fortran(fw, a):
    """A Fortran-ordered device matrix: the transpose view of a C-ordered device copy of aᵀ."""
    return to_device(fw, np.ascontiguousarray(a.T)).T


def to_host(fw, a):
    return a.cpu().numpy() if fw == "torch" else a.get()


def is_device_array(fw, a):
    if fw == "torch":
        import torch

        return isinstance(a, torch.Tensor) and a.is_cuda
    import cupy

    return isinstance(a, cupy.ndarray)


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("method", ["exact", "gram", "randomized"])
def test_svd_on_the_device_agrees_with_the_cpu(rng, fw, method):
    a = rng.standard_normal((120, 80)) / (1 + np.arange(80))
    cpu = lowrank.svd(a, rank=6, method=method)
    gpu = lowrank.svd(to_device(fw, a), rank=6, method=method)
    assert all(is_device_array(fw, t) for t in (gpu.u, gpu.s, gpu.vt))
    np.testing.assert_allclose(to_host(fw, gpu.s), cpu.s, rtol=1e-8 if method != "randomized" else 1e-2)
    u = to_host(fw, gpu.u)
    np.testing.assert_allclose(np.abs(u.T @ cpu.u), np.eye(6), atol=1e-6 if method != "randomized" else 5e-2)
    assert gpu.rel_error == pytest.approx(cpu.rel_error, rel=1e-6 if method != "randomized" else 2e-2)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_fortran_order_on_the_device(rng, fw):
    a = rng.standard_normal((50, 30))
    gpu = lowrank.svd(to_device_fortran(fw, a), rank=4)
    np.testing.assert_allclose(to_host(fw, gpu.s), np.linalg.svd(a, compute_uv=False)[:4], rtol=1e-10)
    u, vt = to_host(fw, gpu.u), to_host(fw, gpu.vt)
    np.testing.assert_allclose(np.linalg.norm(a - (u * to_host(fw, gpu.s)) @ vt) / np.linalg.norm(a),
                               lowrank.svd(a, rank=4).rel_error, rtol=1e-8)


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("method", ["hooi", "sthosvd", "hosvd"])
def test_tucker_on_the_device(rng, fw, method):
    x = rng.standard_normal((12, 10, 8))
    cpu = lowrank.tucker(x, ranks=[3, 3, 3], method=method, max_iter=5, tol=0)
    gpu = lowrank.tucker(to_device(fw, x), ranks=[3, 3, 3], method=method, max_iter=5, tol=0)
    assert is_device_array(fw, gpu.core) and all(is_device_array(fw, f) for f in gpu.factors)
    assert gpu.rel_error == pytest.approx(cpu.rel_error, rel=1e-8)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_mode_product_and_unfold_on_the_device(rng, fw):
    x = rng.standard_normal((5, 6, 7)).astype(np.float32)
    m = rng.standard_normal((3, 6)).astype(np.float32)
    y = lowrank.mode_product(to_device(fw, x), to_device(fw, m), 1)
    assert is_device_array(fw, y)
    np.testing.assert_allclose(to_host(fw, y), lowrank.mode_product(x, m, 1), rtol=1e-5, atol=1e-5)
    u = lowrank.unfold(to_device(fw, x), 2)
    np.testing.assert_array_equal(to_host(fw, u), lowrank.unfold(x, 2))
    with pytest.raises(lowrank.DeviceError):
        lowrank.mode_product(to_device(fw, x), m, 1)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_whitened_svd_on_the_device(rng, fw):
    # w on the device, the Gram on the host: the whitener and the SVD run on the CUDA backend and
    # agree with the CPU path (W′ is unique here: distinct singular values).
    w = rng.standard_normal((48, 32))
    x = rng.standard_normal((200, 32)) @ rng.standard_normal((32, 32))
    gram = x.T @ x
    cpu = lowrank.whitened_svd(w, gram, rank=6)
    for wd in (to_device(fw, w), to_device_fortran(fw, w)):
        gpu = lowrank.whitened_svd(wd, gram, rank=6)
        assert is_device_array(fw, gpu.u) and is_device_array(fw, gpu.v) and is_device_array(fw, gpu.s)
        np.testing.assert_allclose(to_host(fw, gpu.s), cpu.s, rtol=1e-8)
        wp = to_host(fw, gpu.u) @ to_host(fw, gpu.v).T
        np.testing.assert_allclose(wp, cpu.u @ cpu.v.T, atol=1e-8 * np.abs(w).max())
        assert gpu.discarded_energy == pytest.approx(cpu.discarded_energy, rel=1e-8)
    with pytest.raises(lowrank.DeviceError, match="gram"):
        lowrank.whitened_svd(to_device(fw, w), to_device(fw, gram), rank=6)

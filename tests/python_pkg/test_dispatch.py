"""Device dispatch without a GPU: which backend an array goes to and the errors on the way.
CUDA arrays here are DLPack capsules that claim device type 2 (fake_dlpack.py); every path
tested raises before an element is read. The real GPU tests are in test_cuda.py."""
import numpy as np
import pytest

import lowrank
from fake_dlpack import CUDA, CUDA_HOST, ROCM, DeviceArray

INFO = lowrank.cuda_info()


def test_cuda_info_is_consistent():
    assert set(INFO) == {"built", "devices", "reason"}
    assert isinstance(INFO["built"], bool) and INFO["devices"] >= 0
    if INFO["devices"] == 0:
        assert INFO["reason"]  # says why (no device, no driver, or a build without CUDA)


@pytest.mark.skipif(INFO["devices"] > 0, reason="a CUDA device is present: test_cuda.py covers it")
@pytest.mark.parametrize("call", ["svd", "tucker", "mode_product", "unfold", "fold"])
def test_cuda_array_without_a_usable_device(call):
    a = DeviceArray((6, 4))
    fn = {"svd": lambda: lowrank.svd(a, rank=2), "tucker": lambda: lowrank.tucker(a, ranks=2),
          "mode_product": lambda: lowrank.mode_product(a, DeviceArray((3, 4)), 1),
          "unfold": lambda: lowrank.unfold(a, 0), "fold": lambda: lowrank.fold(a, 0, (6, 2, 2))}[call]
    expected = "no CUDA device is usable" if INFO["built"] else "built without CUDA support"
    with pytest.raises(lowrank.DeviceError, match=expected) as e:
        fn()
    assert isinstance(e.value, ValueError)


def test_mixing_devices_is_an_error(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    with pytest.raises(lowrank.DeviceError, match=r"different devices \(cpu and cuda:0\)"):
        lowrank.mode_product(x, DeviceArray((2, 4)), 1)
    with pytest.raises(lowrank.DeviceError, match=r"different devices \(cuda:0 and cpu\)"):
        lowrank.mode_product(DeviceArray((3, 4, 5)), np.ones((2, 4), np.float32), 1)
    with pytest.raises(lowrank.DeviceError, match=r"cuda:0 and cuda:1"):
        lowrank.mode_product(DeviceArray((3, 4, 5)), DeviceArray((2, 4), device_id=1), 1)
    with pytest.raises(lowrank.DeviceError, match="different devices"):
        lowrank.tucker(x, method="hooi", init=[DeviceArray((3, 2)), DeviceArray((4, 2)), DeviceArray((5, 2))])


@pytest.mark.parametrize("device_type,name", [(CUDA_HOST, "cuda_host"), (ROCM, "rocm")])
def test_unsupported_devices(device_type, name):
    with pytest.raises(lowrank.DeviceError, match=name):
        lowrank.svd(DeviceArray((4, 4), device_type=device_type), rank=1)


def test_cpu_torch_tensors_run_on_the_cpu_and_come_back_as_torch():
    torch = pytest.importorskip("torch", reason="torch is not installed in this interpreter")
    g = torch.Generator().manual_seed(0)
    a = torch.randn(40, 30, generator=g, dtype=torch.float64)
    res = lowrank.svd(a, rank=5)
    assert isinstance(res.u, torch.Tensor) and isinstance(res.s, torch.Tensor) and res.u.device.type == "cpu"
    ref = torch.linalg.svdvals(a)[:5]
    assert torch.allclose(res.s, ref, rtol=1e-10)
    x = torch.randn(4, 5, 6, generator=g)
    y = lowrank.mode_product(x, torch.randn(3, 5, generator=g), 1)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and tuple(y.shape) == (4, 3, 6)
    core, factors = lowrank.tucker(x, ranks=2)
    assert isinstance(core, torch.Tensor) and all(isinstance(f, torch.Tensor) for f in factors)
    with pytest.raises(TypeError, match="detach"):
        lowrank.svd(a.clone().requires_grad_(True), rank=2)

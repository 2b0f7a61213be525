"""docs/architecture.md: oracles import neither torch nor kernels; kernels never import oracles."""

import subprocess
import sys

import pytest

from attnspec.kernels.registry import present_devices
from attnspec.kernels.scaling_limits import critical_beta, random_context_stats


def _modules_after(stmt):
    code = f"import sys; {stmt}; print(' '.join(sorted(sys.modules)))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_oracles_do_not_import_torch_or_kernels():
    mods = _modules_after("import attnspec.oracles.scaling_limits")
    assert "torch" not in mods
    assert not any(m.startswith("attnspec.kernels") for m in mods)


def test_kernel_does_not_import_oracles():
    mods = _modules_after("import attnspec.kernels.scaling_limits")
    assert not any(m.startswith("attnspec.oracles") for m in mods)


DEVICES = list(present_devices())


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_every_available_device(device):
    # same statistics on each device (exact law; 64 contexts of 1e4 keys at the critical scale):
    # E W_max(d=3, gamma=1, n=1e4) = 0.7294 (limit 0.72949) within 4.89 standard errors
    s = random_context_stats(10_000, critical_beta(10_000, 3, 1.0), d=3, contexts=64, seed=1, device=device)
    assert s.w_max.device.type == device
    w = s.w_max.cpu()
    assert abs(w.mean().item() - 0.7294) < 4.89 * w.std().item() / 8
    s8 = random_context_stats(2000, 30.0, d=8, contexts=4, outputs=True, seed=2, device=device)
    assert s8.output.shape == (4, 8)

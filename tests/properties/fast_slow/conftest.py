"""One torch thread for these tests, restored afterwards: their tensors are tiny (a layer call
is ~1 ms of work), and on the shared 2-core machine two OpenMP threads spinning against other
processes made each call 20-30x slower (measured: 68 ms against 2.6 ms per forward call)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

#!/usr/bin/env bash
# The CUDA half of issue 9's evidence, run on a GPU machine (not by CI): the gradients suite at
# ci on every built-in kernel with a CUDA backward, in parallel (the oracles are CPU work), and
# a probe of whether each SDPA CUDA backend's backward is bitwise repeatable (the declarations
# say deterministic_backward=False for flash, efficient and cudnn). Writes under $OUT.
#   usage: OUT=/tmp/out bash tests/evidence/gpu_gradients.sh
set -uo pipefail
OUT=${OUT:-/tmp/attnspec-gpu}
mkdir -p "$OUT"
if [ -d .whl ]; then  # python-flint travels as a wheel (the GPU image lacks it)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-deps --no-build-isolation --no-index . >"$OUT/install.log" 2>&1 \
  || { tail -5 "$OUT/install.log"; exit 2; }
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
export OMP_NUM_THREADS=2
pids=()
for kernel in sdpa-flash-cuda sdpa-efficient sdpa-cudnn sdpa flex reference-dense reference-flash-backward; do
  ( timeout 420 attnspec check "$kernel" --suite gradients --effort ci \
      --json "$OUT/$kernel.json" >"$OUT/$kernel.txt" 2>&1; echo "exit $?" >>"$OUT/$kernel.txt" ) &
  pids+=($!)
done
python3 - <<'EOF' >"$OUT/determinism.txt" 2>&1
import torch, torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
torch.manual_seed(0)
for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION):
    for shape in ((2, 8, 1024, 64), (1, 4, 4096, 128)):
        q, k, v, do = (torch.randn(shape, device="cuda", dtype=torch.float16) for _ in range(4))
        grads = []
        try:
            for _ in range(10):
                x = [t.clone().requires_grad_(True) for t in (q, k, v)]
                with sdpa_kernel(backend):
                    out = F.scaled_dot_product_attention(*x, is_causal=True)
                grads.append(torch.autograd.grad(out, x, do))
        except RuntimeError as e:
            print(backend, shape, "unavailable:", str(e).splitlines()[0]); continue
        same = [all(torch.equal(a.view(torch.int16), b.view(torch.int16)) for a, b in zip(grads[0], g))
                for g in grads[1:]]
        print(backend, shape, f"bitwise equal to the first call in {sum(same)}/9 repeats")
EOF
for pid in "${pids[@]}"; do wait "$pid"; done
for f in "$OUT"/*.txt; do echo "== $f"; tail -25 "$f"; done

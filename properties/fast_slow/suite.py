"""The fast_slow suite: the coupled layer's laws, with a kernel as both of its attentions.

Opened on no kernel, the checks run on the built-in dense reference (float64); opened on a
kernel, on that kernel in its widest declared dtype, on each declared device present, every call
through the subject's invoker (time limit, process isolation): a raise, a hang or a malformed
result is a violation. Plans per effort, fixed seeds (every effort is deterministic):

    coupled_layer_no_future_leak  the layer (complete-block rule, gate 0.5) on (T, P) cases with
                                  T < P, P | T and P not dividing T: perturbing token s moves no
                                  output t < s (bitwise), and the slow path's outputs move
                                  exactly for the tokens of their complete blocks
                                  (read_sets.py; needs a causal kernel)
    coupled_layer_gate_zero       gate 0: the output is the fast path bitwise and does not move
                                  when every slow parameter is redrawn (gate.py; needs a
                                  deterministic kernel)
    attention_stationary_law      the kernel's attention iterated on one-hot values reaches the
                                  stationary law of its Markov kernel, within the derived
                                  tolerance (stationary.py)

quick: one case each; ci: three; thorough: six layer cases and twelve stationary cases. ci takes
about 1 s on the dense reference (measured on the shared 2-core machine).
"""

from __future__ import annotations

import time

import torch
from attnspec.kernels.attention.dense import dense_attention
from attnspec.kernels.fast_slow.layer import FastSlowLayer
from attnspec.properties.attention.calls import call_attention
from attnspec.properties.attention.context import isolate
from attnspec.properties.engine.invoker import SubjectFailure
from attnspec.properties.engine.results import (
    ERROR,
    HELD,
    NOT_APPLICABLE,
    VIOLATED,
    Finding,
    Result,
    internal_error,
)
from attnspec.properties.engine.suite import NotApplicable, Session, Suite, run_sessions
from attnspec.properties.fast_slow.gate import check_gate
from attnspec.properties.fast_slow.read_sets import check_read_sets, dependences
from attnspec.properties.fast_slow.stationary import check_stationary_law

LAYER_CASES = {  # (T, P)
    "quick": ((7, 3),),
    "ci": ((5, 8), (12, 4), (17, 5)),
    "thorough": ((5, 8), (12, 4), (17, 5), (32, 4), (45, 7), (64, 16)),
}
STATIONARY_SEEDS = {"quick": (1,), "ci": (1, 2, 3), "thorough": tuple(range(1, 13))}
DTYPE_PREFERENCE = ("float64", "float32", "bfloat16", "float16")
HEADS, HEAD_DIM, LENGTH = 2, 16, 8  # the layer's heads x head dim; the stationary check's L = D

CLAIMS = {
    "coupled_layer_no_future_leak": (
        "the fast-slow coupled layer built on the kernel moves no output when a later token is "
        "perturbed (bitwise), and its slow path reads exactly its complete blocks"),
    "coupled_layer_gate_zero": (
        "at gate 0 the coupled layer is its fast path bitwise, whatever the slow parameters"),
    "attention_stationary_law": (
        "the kernel's attention iterated on one-hot values reaches its Markov kernel's "
        "stationary law within the derived tolerance"),
}


class _ViaInvoker:
    """The subject's kernel as the layer's attention: every call through its invoker."""

    def __init__(self, subject, timeout_s: float):
        self.subject, self.timeout_s = subject, timeout_s
        self.attnspec = {"causal": subject.spec.causal}

    def __call__(self, q, k, v, *, causal=False):  # q, k, v [B, H, L, D]
        kwargs = {"causal": True} if causal else {}
        text = f"{self.subject.name}(q{tuple(q.shape)}, causal={causal})"
        return call_attention(self.subject.invoker, self.subject.fn, q, k, v, kwargs, text,
                              self.timeout_s).out


class FastSlowSession(Session):
    suite = "fast_slow"

    def __init__(self, attention, spec, dtype: str, devices, effort: str, name: str):
        self.attention, self.spec, self.effort, self.name = attention, spec, effort, name
        self.dtype, self.devices = getattr(torch, dtype), tuple(devices)

    def names(self) -> list[str]:
        return list(CLAIMS)

    def claim(self, name: str) -> str:
        return CLAIMS[name]

    def _inapplicable(self, name: str) -> str | None:
        spec = self.spec
        if spec is None:
            return None
        if name != "attention_stationary_law" and not spec.causal:
            return "the kernel declares no causal attention"
        if name == "attention_stationary_law" and (why := spec.exact_only(
                "the stationary law is one of exact attention weights, which a certificate on "
                "each output row does not bound")):
            return why
        if name == "coupled_layer_gate_zero" and not spec.declares("deterministic"):
            return "the kernel declares itself nondeterministic: two calls may differ in their bits"
        size = HEAD_DIM if name != "attention_stationary_law" else LENGTH
        if not spec.supports_head_dim(size):
            return f"the kernel does not support head dim {size}"
        return None

    def run(self, name: str) -> Result:
        result = Result(self.suite, name, CLAIMS[name], HELD)
        why = self._inapplicable(name)
        if why:
            result.status, result.reason = NOT_APPLICABLE, why
            return result
        start = time.perf_counter()
        try:
            for device in self.devices:
                getattr(self, name)(result, device)
                if result.status != HELD:
                    break
        except SubjectFailure as failure:
            result.status, result.reason = VIOLATED, f"kernel failure: {failure}"
        except Exception as error:  # noqa: BLE001 - a bug in attnspec, reported as such
            result.status, result.reason = ERROR, internal_error(error)
        result.seconds = time.perf_counter() - start
        return result

    def _layer(self, T: int, P: int, seed: int, device: str):
        torch.manual_seed(seed)
        layer = FastSlowLayer(HEADS * HEAD_DIM, HEADS, P, attention=self.attention,
                              dtype=self.dtype, device=device)
        x = torch.randn(2, T, HEADS * HEAD_DIM, generator=torch.Generator().manual_seed(seed))
        return layer, x.to(device, self.dtype)

    def coupled_layer_no_future_leak(self, result: Result, device: str) -> None:
        # half precisions: a 4-sigma shift keeps every read token's effect far above an ulp
        magnitude = 1.0 if self.dtype in (torch.float32, torch.float64) else 4.0
        for T, P in LAYER_CASES[self.effort]:
            layer, x = self._layer(T, P, T * 101 + P, device)
            with torch.no_grad():
                layer.gate.fill_(0.5)

                def both(z, layer=layer):  # forward's own expression, and the slow path
                    slow_z = layer.slow_path(z)
                    return layer.fast_path(z) + layer.gate * slow_z, slow_z

                moved_layer, moved_slow = dependences(both, x, T, magnitude)
                whole = check_read_sets(moved_layer, P, "complete", True)
                slow = check_read_sets(moved_slow, P, "complete", False)
            result.examples += 1
            bad = whole.leaks or slow.extra or slow.missing
            case = f"T={T}, P={P}, x [2, {T}, {HEADS * HEAD_DIM}]"
            if bad:
                detail = (f"{len(whole.leaks)} outputs moved by a later token (first (t, s): "
                          f"{whole.leaks[:3]}); slow path reads outside its blocks "
                          f"{slow.extra[:3]}, misses {slow.missing[:3]}")
                result.status, result.reason = VIOLATED, detail
                result.worst = result.counterexample = Finding(
                    float("inf"), detail, case, device, str(self.dtype).removeprefix("torch."))
                return
        result.worst = Finding(0.0, "no leak; read sets exact", case, device,
                               str(self.dtype).removeprefix("torch."))

    def coupled_layer_gate_zero(self, result: Result, device: str) -> None:
        for T, P in LAYER_CASES[self.effort]:
            layer, x = self._layer(T, P, T * 103 + P, device)
            found = check_gate(layer, x, seed=T, gradient=False)
            result.examples += 1
            if not (found.fast_only and found.ignores_slow):
                detail = (f"gate 0: equals the fast path: {found.fast_only}; unchanged by the "
                          f"slow parameters: {found.ignores_slow}")
                result.status, result.reason = VIOLATED, detail
                result.worst = result.counterexample = Finding(
                    float("inf"), detail, f"T={T}, P={P}", device, str(self.dtype).removeprefix("torch."))
                return
        result.worst = Finding(0.0, "bitwise", "", device, str(self.dtype).removeprefix("torch."))

    def attention_stationary_law(self, result: Result, device: str) -> None:
        worst = None
        for seed in STATIONARY_SEEDS[self.effort]:
            g = torch.Generator().manual_seed(seed)
            q, k = (torch.randn(1, 1, LENGTH, LENGTH, generator=g).to(device, self.dtype)
                    for _ in range(2))
            found = check_stationary_law(self.attention, q, k)
            result.examples += 1
            ratio = found.error / found.tolerance
            if worst is None or ratio > worst.ratio:
                worst = Finding(ratio, f"|A^n - pi| = {found.error:.3g} against {found.tolerance:.3g} "
                                f"(tau {found.tau:.3f}, n = {found.iterations})",
                                f"seed {seed}, q, k [1, 1, {LENGTH}, {LENGTH}]", device,
                                str(self.dtype).removeprefix("torch."))
        result.worst = worst
        if worst.ratio > 1:
            result.status, result.reason, result.counterexample = VIOLATED, worst.detail, worst


class FastSlowSuite(Suite):
    name = "fast_slow"
    summary = ("the fast-slow coupled layer (Gao 2026) built on the kernel: no future leak, the "
               "gate-zero identity, and its attention as a Markov kernel")

    def efforts(self) -> dict[str, str]:
        return {"quick": "one case per claim", "ci": "three fixed cases per claim",
                "thorough": "six layer cases up to T = 64, twelve stationary cases"}

    def claims(self) -> list[tuple[str, str]]:
        return list(CLAIMS.items())

    def open(self, subject, effort: str, call_timeout: float | None = None,
             isolation: str | None = None, **_) -> FastSlowSession:
        """A session on ``subject`` (None: the dense reference in float64)."""
        if subject is None:
            return FastSlowSession(dense_attention, None, "float64", ("cpu",), effort,
                                   "reference-dense (float64)")
        if not subject.devices:
            raise NotApplicable("none of the kernel's declared devices is present")
        isolate(subject, isolation)
        spec = subject.spec
        dtype = next((t for t in DTYPE_PREFERENCE if t in spec.dtypes), spec.dtypes[0])
        attention = _ViaInvoker(subject, 60.0 if call_timeout is None else call_timeout)
        return FastSlowSession(attention, spec, dtype, subject.devices, effort, subject.name)


FAST_SLOW = FastSlowSuite()


def check_fast_slow(attention=None, effort: str = "ci", names=None, on_result=None) -> list[Result]:
    """Run the suite's claims on a contract kernel (default: the dense reference, float64)
    without loading it as a subject (no invoker): the Python form of
    ``attnspec check KERNEL --suite fast_slow``."""
    session = FastSlowSession(attention or dense_attention, None, "float64", ("cpu",), effort,
                              "python")
    results, _ = run_sessions([session], names, on_result)
    return results

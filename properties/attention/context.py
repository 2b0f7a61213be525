"""One kernel under test, as the attention properties and the engine's driver see it.

The Context holds the loaded kernel, the plan of the effort (attention/profiles.py) and the
invoker, and gives the properties what they share: the case of a recipe, a call of the kernel
on a copy of it, the oracle's exact answer from the cheapest certain tier, and a float64
evaluation with the kernel's budgets for comparing a kernel with itself. A kernel that declares
``"approximation": "certificate"`` is asked for its certificate on every call, and the budgets
of a comparison that involves a call include that call's certificate
(``approximate(case, call=...)``; conformance.with_certificate). For the driver it
draws (dtype, device, recipe), checks a case, and describes a finding with its reproducer.

``isolate`` decides where the kernel runs (engine/isolation.py): in a worker process, where a
kernel that kills its process is a "crashed" violation, or in this one. The worker rebuilds the
kernel from its selector (``kernel_stand_ins``), runs ``device_still_usable`` after a call that
raised, and a call on a case's own tensors (inputs_unchanged) copies their state in the worker
back into them (``restore_tensor``).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from hypothesis import strategies as st

from attnspec.kernels.registry import BUILTINS
from attnspec.kernels.spec import KernelSpec
from attnspec.oracles.attention.error_budget import ErrorBudget, error_budget
from attnspec.oracles.attention.exact import ExactAttention, exact_attention, exact_progression
from attnspec.oracles.attention.float64 import attention64
from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.properties.attention.calls import Call, call_attention
from attnspec.properties.attention.cases import AttentionCase, build_case
from attnspec.properties.attention.compile_time import clock_of, signature
from attnspec.properties.attention.conformance import precision_model, with_certificate
from attnspec.properties.attention.cover import Cell, cell_dtype
from attnspec.properties.attention.profiles import Profile
from attnspec.properties.attention.recipe import Recipe
from attnspec.properties.attention.reproducer import reproducer
from attnspec.properties.attention.strategies import within_restrictions
from attnspec.properties.engine.invoker import Invoker
from attnspec.properties.engine.isolation import Isolation
from attnspec.properties.engine.results import Finding


@dataclass
class Approximation:
    """float64 outputs and the kernel's budgets for them: for comparing a kernel with itself."""

    out: np.ndarray
    lse: np.ndarray
    empty: np.ndarray
    budget: ErrorBudget


class Context:
    """One kernel under test, its invoker and plan; shared by all properties of a run."""

    def __init__(self, subject, profile: Profile):
        self.subject = subject
        self.spec: KernelSpec = subject.spec
        self.profile = profile
        self.invoker: Invoker = subject.invoker  # one per kernel: a hang is remembered by all

    # ------------------------------------------------------------------ for the properties
    def case(self, recipe: Recipe, device: str) -> AttentionCase:
        return build_case(recipe, device)

    def call(self, case: AttentionCase) -> Call:
        """Call the kernel on a copy: a kernel that writes to its inputs must not change what
        the oracle and the other comparisons see (inputs_unchanged calls it on the originals)."""
        return self.call_on_originals(case.clone())

    def call_on_originals(self, case: AttentionCase) -> Call:
        """Call the kernel on the case's own tensors: what it writes to them stays written,
        also when it runs in a worker process."""
        key = signature(case.q, case.k, case.v, case.kwargs)
        with self.invoker.writing_back(case_tensors(case), restore_tensor):
            call = call_attention(self.invoker, self.subject.fn, case.q, case.k, case.v,
                                  case.kwargs, case.recipe.describe(), self.profile.call_timeout_s,
                                  certificate=self.spec.certified)
        clock_of(self.invoker).record(key, call.seconds)
        return call

    def problem(self, case: AttentionCase) -> AttentionProblem:
        return case.problem(self.spec.causal)

    def exact(self, case: AttentionCase) -> tuple[AttentionProblem, ExactAttention]:
        problem = self.problem(case)
        r = case.recipe
        if r.keys == "progression":
            closed = exact_progression(problem, r.beta, r.variant >= 0.5)
            if closed is not None:
                return problem, closed
        return problem, exact_attention(problem)

    def approximate(self, case: AttentionCase, lse_dtype: str | None = None,
                    call: Call | None = None) -> Approximation:
        """The float64 evaluation of ``case`` and the budgets of the kernel's answer to it;
        given the ``call`` that answered, its certificate (if any) is in the budgets."""
        problem = self.problem(case)
        out, lse, empty = attention64(problem)
        model = precision_model(self.spec, case.recipe.dtype, lse_dtype)
        budget = error_budget(problem, out, model, exact_lse=lse)
        return Approximation(out, lse, empty,
                             with_certificate(budget, None if call is None else call.certificate))

    # ------------------------------------------------------------------ for the driver
    @property
    def declaration(self) -> KernelSpec:
        return self.spec

    def unable(self) -> str | None:
        if self.invoker.hung_on is not None:
            return f"the kernel hung earlier (on {self.invoker.hung_on})"
        if not self.subject.devices:
            return "none of the declared devices is present"
        return None

    def devices(self) -> list[str]:
        """The devices cases are drawn on: those declared and present."""
        return list(self.subject.devices)

    def cover(self, prop) -> tuple[Cell, ...]:
        """The cells of the plan's cover (attention/cover.py): each is searched, one case,
        before the random draws."""
        return self.profile.cover

    def draw_case(self, prop, draw, cell: Cell | None = None) -> tuple[Recipe, str]:
        """A case of ``prop``: in ``cell`` of the cover (its dtype slot, shape and options) or
        anywhere within the plan's limits."""
        limits = self.profile.limits
        if cell is None:
            dtype = draw(st.sampled_from(self.spec.dtypes), label="dtype")
        else:
            dtype = cell_dtype(self.spec, self.profile.cover.index(cell))
            limits = replace(limits, cell=cell)
        device = draw(st.sampled_from(self.devices()), label="device")
        recipe = draw(prop.draw(self.spec, dtype, limits), label="recipe")
        if self.spec.restrictions:  # after the property's own maps, which may add an option
            recipe = Recipe(**within_restrictions(self.spec, asdict(recipe)))
        return recipe, device

    def case_key(self, case) -> tuple[str, str]:
        recipe, device = case
        return recipe.to_json(), device

    def check_case(self, prop, case):
        recipe, device = case
        return prop.check(self, recipe, device)

    def finding(self, prop, case, outcome) -> Finding:
        recipe, device = case
        return Finding(outcome.ratio, outcome.detail, recipe.describe(), device, recipe.dtype,
                       json.loads(recipe.to_json()), self.reproducer(prop.name, recipe, device))

    def reproducer(self, name: str, recipe: Recipe, device: str) -> dict:
        return reproducer(self.subject.selector, name, recipe, device)


ISOLATION_MODES = ("process", "none")
# What the fork server of the worker processes imports once (engine/isolation.py): torch and
# this module, with what it imports (none of it initialises CUDA, which the workers do).
WORKER_PRELOAD = ("torch", "attnspec.properties.attention.context")
# OpenMP threads that spin while they wait take the cores the other process is about to need:
# with the checking process and a worker taking turns, forward-and-backward calls measured
# 1.4 ms in-process, 45 ms in a worker whose idle threads spin (one other busy process on two
# cores), 0.9 ms in one whose threads sleep. A value of the user's own is kept.
WORKER_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}


def isolation_mode(subject, mode: str | None) -> str:
    """``mode``, or the default for the subject: "none" for a built-in kernel (attnspec's own
    and PyTorch's, trusted not to kill the process), "process" for a kernel of your own."""
    if mode is None:
        return "none" if subject.selector in BUILTINS else "process"
    if mode not in ISOLATION_MODES:
        raise ValueError(f"unknown isolation {mode!r}; choose from {', '.join(ISOLATION_MODES)}")
    return mode


def isolate(subject, mode: str | None) -> str:
    """Make every call of ``subject``'s kernel, by any suite, run as ``mode`` says (None: its
    default); the mode chosen. Suites opened on one subject share its invoker, and so one
    worker process."""
    mode = isolation_mode(subject, mode)
    if mode == "none":
        subject.invoker.isolate(None)
    elif subject.invoker.isolation is None:
        subject.invoker.isolate(Isolation(
            stand_ins={"kernel": subject.fn},
            rebuild="attnspec.properties.attention.context:kernel_stand_ins",
            rebuild_args=(subject.selector,),
            probe="attnspec.properties.attention.context:device_still_usable",
            preload=WORKER_PRELOAD, reducers=TENSOR_REDUCERS,
            environment=WORKER_ENVIRONMENT))
    return mode


def kernel_stand_ins(selector: str) -> dict:
    """In a worker process: the kernel loaded again from its selector, standing in for the
    checking process's (a built-in may hold what no pickle carries). A selector that does not
    load there (a kernel built in a test) raises, and the kernel is sent by value instead."""
    from attnspec.properties.loading import load_kernel

    return {"kernel": load_kernel(selector).fn}


def device_still_usable() -> None:
    """In a worker process, after the kernel raised: raise if CUDA can no longer run anything
    here (a sticky error such as an illegal memory access poisons the whole context), so that
    the worker is replaced instead of failing every later call for the same reason."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()
        torch.ones(1, device=torch.device("cuda", torch.cuda.current_device())).add_(1).item()


def reduce_tensor(t: torch.Tensor):
    """A tensor as it travels to and from the worker process: its whole storage as a uint8
    array (sent out of band, not copied), with dtype, shape, strides, storage offset, device
    and requires_grad, so that a view of a case's layout (transposed, offset) arrives as the
    same view. torch's own pickle (a torch.save per storage) measured 8x slower on the laws'
    contexts. Tensors it cannot describe so (sparse, meta, conjugate or negative views,
    subclasses) go by torch's own pickle."""
    if (type(t) is not torch.Tensor or t.layout != torch.strided or t.device.type == "meta"
            or t.is_conj() or t.is_neg()):
        return t.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    raw = torch.empty(0, dtype=torch.uint8, device=t.device).set_(t.untyped_storage())
    return rebuild_tensor, (raw.cpu().numpy(), t.dtype, tuple(t.shape), t.stride(),
                            t.storage_offset(), str(t.device), t.requires_grad)


def rebuild_tensor(raw: np.ndarray, dtype: torch.dtype, shape: tuple, stride: tuple,
                   offset: int, device: str, requires_grad: bool) -> torch.Tensor:
    """The tensor ``reduce_tensor`` described, its storage the received bytes (moved to its
    device when that is not the CPU)."""
    storage = torch.from_numpy(raw).to(device).untyped_storage()
    t = torch.empty(0, dtype=dtype, device=device).set_(storage, offset, shape, stride)
    return t.requires_grad_(True) if requires_grad else t


TENSOR_REDUCERS = {torch.Tensor: reduce_tensor}


def case_tensors(case: AttentionCase) -> list[torch.Tensor]:
    """q, k, v and every tensor keyword of a case: what a kernel could write to."""
    return [case.q, case.k, case.v] + [t for t in case.kwargs.values() if isinstance(t, torch.Tensor)]


def restore_tensor(original: torch.Tensor, after: torch.Tensor) -> None:
    """Make ``original`` what it became in the worker (values, shape, dtype and layout)."""
    original.data = after.detach()


def as_float64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()

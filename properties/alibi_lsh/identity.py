"""The positional-LSH identity as a check of a kernel: its ALiBi path against its own mask path.

Claim (docs/positional-lsh-identity.md; the estimator and its certificate [D], session A's
oracles/alibi_lsh/certificate.py; E[M] = P [C]/[D], oracles/alibi_lsh/schemes.py): for
s block partitions drawn per head with E[M] = P = exp(bias), bias[h, i, j] = -m_h |i + Lk - Lq - j|,
the LSE-weighted merge of the kernel's outputs under the s masks, with no bias,

    out = sum_t exp(lse_t - logsumexp_t lse_t) out_t

is the ratio estimator ytilde_i = sum_j W_ij Mbar_ij v_j / sum_j W_ij Mbar_ij (W = e^scores,
Mbar = the mean of the s masks), and |ytilde_i - y_i| <= e^(R_i) diam(V) kappa_i for the exact
ALiBi attention y (R_i the row's score range, diam the values' diameter, kappa_i =
sum_j |Mbar_ij - P_ij| / sum_j Mbar_ij). So a kernel that declares alibi and mask must give

    |merge of its mask outputs - its ALiBi output| <= e^R diam kappa + its budgets + the merge's rounding

with no oracle value: the bound is a theorem for the masks actually drawn (no false-alarm rate
beyond the budgets' own), and a wrong slope table, distance or offset moves the ALiBi output by
more than that wherever the certificate is small (a bias rounded to the input dtype moves it by
less, and holds: docs/positional-lsh-identity.md). It is small
when R is (kappa ~ 1 / sqrt(s): sqrt(s) times the median certificate measured 1.0-1.2 on rows at
the end of 2048 keys, docs/positional-lsh-identity.md): the cases draw q and k with
|scores| <= score_bound at thousands of keys, where no oracle comparison reaches.

The weights are the kernel's own lse_t when it declares lse (so its lse path is checked too);
a kernel without lse (PyTorch's SDPA) is merged with the weights of the float64 evaluation that
sizes the budgets anyway (oracles/attention/float64.py, its rounding bounded below), and only its
outputs are checked.

Masks are per head (each head has its own slope); causal ALiBi uses causal attention inside the
blocks (mask AND causal, passed as one mask so that the kernel's causal alignment plays no part;
the ALiBi call gets the causal mask too); query row i sits at key position i + Lk - Lq. A kernel
that declares a certificate ("approximation": "certificate") has each call's certificate added
to that call's budget. Shapes: q [B, Hq, Lq, D], k [B, Hk, Lk, D], v [B, Hk, Lk, Dv], masks
[s, Hq, Lq, Lk]; the s mask calls go to the kernel in chunks stacked along the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from attnspec.oracles.alibi_lsh.certificate import (certificate_bound, certificate_kappa,
                                                    score_range, value_diameter)
from attnspec.oracles.alibi_lsh.schemes import binning_block_ids, gap_cut_block_ids
from attnspec.oracles.attention.alibi_slopes import canonical_alibi_slopes_float64
from attnspec.oracles.attention.error_budget import error_budget
from attnspec.oracles.attention.float64 import attention64
from attnspec.oracles.attention.problem import AttentionProblem
from attnspec.properties.attention.calls import Call, call_attention
from attnspec.properties.attention.conformance import precision_model, with_certificate
from attnspec.properties.engine.property import Outcome
from attnspec.properties.engine.ratio import format_index, worst_element

U64 = 2.0**-53  # float64 unit roundoff: masks, certificate and merge are evaluated in float64
SCHEMES = {"binning": binning_block_ids, "gap_cut": gap_cut_block_ids}
CHUNK_SCORES = 2**22  # scores per mask call (draws stacked along the batch): ~16 MB in float32
NAME = "alibi_path_matches_mask_path"
CLAIM = ("the kernel's ALiBi output equals the LSE-weighted merge of its own outputs under s "
         "sampled block masks (no bias), within the certificate e^R diam(V) kappa plus the "
         "budgets")


@dataclass(frozen=True)
class IdentityCase:
    """One check of the identity: shapes, dtype, the number of masks, the scheme and seed.

    q and k are unit directions scaled so that |score| <= score_bound (R_i <= 2 score_bound);
    v's first channels are ramps 1 - (Lk - 1 - j) / w at widths w = 4, 16, 64, ... (0 beyond),
    which ALiBi's reach at each slope moves, and the rest uniform on [0, 1]: diam(V) <= 1.
    """

    kv_len: int
    q_len: int = 4
    batch: int = 1
    q_heads: int = 4
    kv_heads: int = 2
    head_dim: int = 16
    value_dim: int = 8
    dtype: str = "float32"
    causal: bool = False
    samples: int = 128
    scheme: str = "binning"
    seed: int = 0
    score_bound: float = 0.05

    def describe(self) -> str:
        return (f"q[{self.batch},{self.q_heads},{self.q_len},{self.head_dim}] "
                f"k[{self.batch},{self.kv_heads},{self.kv_len},{self.head_dim}] "
                f"v[..,{self.value_dim}] {self.dtype}{' causal' if self.causal else ''} "
                f"s={self.samples} {self.scheme} |score|<={self.score_bound} seed={self.seed}")


@dataclass
class IdentityInputs:
    q: torch.Tensor  # [B, Hq, Lq, D]
    k: torch.Tensor  # [B, Hk, Lk, D]
    v: torch.Tensor  # [B, Hk, Lk, Dv]
    slopes: torch.Tensor  # [Hq], float32
    masks: np.ndarray  # bool [s, Hq, Lq, Lk]: block masks (AND causal)
    visible: np.ndarray  # bool [Lq, Lk]: causal visibility (all True without causal)


def build_inputs(case: IdentityCase, device: str) -> IdentityInputs:
    """The case's tensors and masks, from its seed alone."""
    rng = np.random.default_rng(case.seed)
    B, Hq, Hk, Lq, Lk = case.batch, case.q_heads, case.kv_heads, case.q_len, case.kv_len
    D, Dv = case.head_dim, case.value_dim
    # |score| = |q||k| / sqrt(D) <= score_bound with |q| = |k| = sqrt(score_bound sqrt(D))
    norm = math.sqrt(case.score_bound * math.sqrt(D))

    def directions(*shape):
        x = rng.standard_normal(shape)
        return norm * x / np.linalg.norm(x, axis=-1, keepdims=True)

    q, k = directions(B, Hq, Lq, D), directions(B, Hk, Lk, D)
    v = rng.random((B, Hk, Lk, Dv))
    distance_to_end = np.arange(Lk)[::-1].astype(np.float64)  # Lk - 1 - j
    for c in range(min(Dv // 2, 5)):
        v[..., c] = np.maximum(0.0, 1.0 - distance_to_end / 4.0**(c + 1))
    dtype = getattr(torch, case.dtype)
    tensors = [torch.from_numpy(x).to(dtype=dtype, device=device) for x in (q, k, v)]
    slopes = canonical_alibi_slopes_float64(Hq)
    position = np.arange(Lq) + (Lk - Lq)  # key position of each query row
    visible = (np.arange(Lk)[None, :] <= position[:, None]) if case.causal \
        else np.ones((Lq, Lk), dtype=bool)
    sampler = SCHEMES[case.scheme]
    masks = np.empty((case.samples, Hq, Lq, Lk), dtype=bool)
    for h, slope in enumerate(slopes):
        # each head its own draws, from its own stream of the case's seed
        ids = sampler(Lk, float(np.float32(slope)), case.samples,
                      np.random.default_rng([case.seed, h]))  # [s, Lk]
        masks[:, h] = (ids[:, position][:, :, None] == ids[:, None, :]) & visible
    return IdentityInputs(*tensors, torch.tensor(slopes, dtype=torch.float32, device=device),
                          masks, visible)


def kms_rows(slopes: np.ndarray, lq: int, lk: int) -> tuple[np.ndarray, np.ndarray]:
    """P [Hq, Lq, Lk] = exp(-m_h |i + Lk - Lq - j|) in float64, and a bound on its rounding:
    slope * distance rounds by u |x| and exp by < 1 ulp, so |P - P_float64| <= (|x| + 2) u P."""
    distance = np.abs(np.arange(lq)[:, None] + (lk - lq) - np.arange(lk)[None, :])
    x = slopes[:, None, None] * distance  # [Hq, Lq, Lk]
    p = np.exp(-x)
    return p, (x + 2.0) * U64 * p * (1 + 4 * U64)


def identity_certificate(inputs: IdentityInputs, scale: float) -> np.ndarray:
    """e^(R_i) diam(V) kappa_i [B, Hq, Lq]: the bound on |ratio estimator - exact ALiBi| of
    session A's certificate (oracles/alibi_lsh/certificate.py), with R and diam over each row's
    visible keys, and kappa widened by the rounding of P and of R (see the comments)."""
    q = inputs.q.detach().to("cpu", torch.float64).numpy()
    k = inputs.k.detach().to("cpu", torch.float64).numpy()
    v = inputs.v.detach().to("cpu", torch.float64).numpy()
    B, Hq, Lq, D = q.shape
    group = Hq // k.shape[1]
    slopes = inputs.slopes.detach().to("cpu", torch.float64).numpy()
    Lk = k.shape[2]
    p, p_error = kms_rows(slopes, Lq, Lk)
    p, p_error = p * inputs.visible, p_error * inputs.visible
    mbar = inputs.masks.mean(axis=0)  # [Hq, Lq, Lk]: counts / s, exact in float64
    kappa = np.stack([certificate_kappa(mbar[h], p[h]) for h in range(Hq)])  # [Hq, Lq]
    # kappa of the exact P: sum_j |Mbar - P| moves by at most sum_j |P - P_float64|, which is
    # divided by sum_j Mbar (rounded up by 1 + (Lk + 2) u, as certificate_kappa does its own)
    kappa = kappa + p_error.sum(-1) / mbar.sum(-1) * (1 + (Lk + 4) * U64)
    bound = np.empty((B, Hq, Lq))
    for b in range(B):
        for h in range(Hq):
            kh = k[b, h // group]
            scores = scale * (q[b, h] @ kh.T)  # [Lq, Lk], float64
            # float64 scores err by <= gamma_D scale sum_c |q_c k_c| <= (D + 1) u scale |q||k|
            # (Higham 3.5, Cauchy-Schwarz); R is a difference of two of them
            slack = 2 * (D + 1) * U64 * scale * np.linalg.norm(q[b, h], axis=-1) \
                * np.linalg.norm(kh, axis=-1).max()
            r = score_range(scores, inputs.visible) + slack
            diam = value_diameter(v[b, h // group], inputs.visible)
            bound[b, h] = certificate_bound(r, diam, kappa[h])
    return bound


def _problem(q, k, v, **kwargs) -> AttentionProblem:
    def exact(t):
        return t.detach().to("cpu", torch.float64).numpy()

    mask = kwargs.pop("mask", None)
    slopes = kwargs.pop("alibi_slopes", None)
    return AttentionProblem.build(exact(q), exact(k), exact(v),
                                  alibi_slopes=None if slopes is None else exact(slopes),
                                  mask=None if mask is None else mask.cpu().numpy())


def _budgets(spec, dtype: str, problem: AttentionProblem, call: Call):
    """The kernel's in-force budgets of out [.., Dv] and lse [..] on ``problem`` (its declared
    precision, the lse's returned dtype), with the call's certificate when it has one, and the
    float64 evaluation's lse [..]."""
    out64, lse64, _ = attention64(problem)
    lse_dtype = None if call.lse is None else str(call.lse.dtype).removeprefix("torch.")
    model = precision_model(spec, dtype, lse_dtype)
    budget = with_certificate(error_budget(problem, out64, model, exact_lse=lse64),
                              call.certificate)
    return budget.in_force("out"), budget.in_force("lse"), lse64


def lse64_error(problem: AttentionProblem, lse64: np.ndarray) -> np.ndarray:
    """A bound [B, Hq, Lq] on |lse64 - lse| for attention64's float64 logsumexp (no ALiBi):
    scores err by <= (D + 2) u A, A = scale |q_i| max_j |k_j| >= |s_ij| (the dot product's
    gamma_D and the scale's rounding), s - m by u 2A more, exp by u, the sum of Lk terms by
    gamma_Lk relative, log by u |log total| more, and m + log by u |lse|: first order in u,
    times 1.01 for the rest."""
    k = np.repeat(problem.k, problem.group_size, axis=1)
    scale = 1 / np.sqrt(problem.head_dim) if problem.scale is None else problem.scale
    a = scale * np.linalg.norm(problem.q, axis=-1) * np.linalg.norm(k, axis=-1).max(-1)[..., None]
    lk = problem.kv_len
    return 1.01 * (U64 * ((problem.head_dim + 4) * a + math.log(lk) + np.abs(lse64) + 1)
                   + lk * U64 / (1 - lk * U64))


def _gamma(n: int) -> float:
    """Higham's gamma_n = n u / (1 - n u): the relative error of n float64 roundings."""
    return n * U64 / (1 - n * U64)


def _as64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


@dataclass
class IdentityCheck:
    """What one case gave: the worst element's ratio and where, and the sizes for the docs."""

    outcome: Outcome
    certificate_max: float  # max over rows of e^R diam kappa
    certificate_median: float
    calls: int


def check_identity(subject, case: IdentityCase, device: str, timeout_s: float) -> IdentityCheck:
    """Call ``subject``'s kernel on ``case`` (the ALiBi path once, the mask path under s masks)
    and hold the merge of the mask outputs against the ALiBi output. Raises the invoker's
    SubjectFailure when a call raises, hangs, crashes or returns a malformed result."""
    spec = subject.spec
    inputs = build_inputs(case, device)
    q, k, v = inputs.q, inputs.k, inputs.v
    B, Hq, Lq, D = q.shape
    Lk, s = k.shape[2], case.samples
    certified = spec.certified

    def call(q_, k_, v_, kwargs, what):
        return call_attention(subject.invoker, subject.fn, q_, k_, v_, kwargs,
                              f"{case.describe()}: {what}", timeout_s, certificate=certified)

    # the ALiBi path: bias, and causal as a mask (the kernel's alignment plays no part)
    alibi_kwargs = {"alibi_slopes": inputs.slopes}
    if case.causal:
        alibi_kwargs["mask"] = torch.from_numpy(
            np.broadcast_to(inputs.visible, (B, Hq, Lq, Lk)).copy()).to(device)
    alibi = call(q, k, v, alibi_kwargs, "ALiBi call")
    alibi_budget, _, _ = _budgets(spec, case.dtype, _problem(q, k, v, **alibi_kwargs), alibi)

    # the mask path: s calls, stacked along the batch in chunks (the contract's batch
    # independence makes this the same as one call per mask)
    outs, lses, out_budgets, lse_budgets = [], [], [], []
    chunk = max(1, CHUNK_SCORES // (B * Hq * Lq * Lk))
    calls = 1
    for start in range(0, s, chunk):
        t = min(chunk, s - start)
        masks = torch.from_numpy(np.repeat(inputs.masks[start:start + t], B, axis=0)).to(device)
        stacked = [x.repeat(t, 1, 1, 1) for x in (q, k, v)]  # draw-major: [t * B, H, L, .]
        kwargs = {"mask": masks, "return_lse": True} if spec.lse else {"mask": masks}
        answer = call(*stacked, kwargs, f"mask calls {start}..{start + t - 1}")
        calls += 1
        problem = _problem(*stacked, **kwargs)
        ob, lb, lse64 = _budgets(spec, case.dtype, problem, answer)
        if not spec.lse:  # the float64 evaluation's weights, within their rounding
            answer.lse, lb = torch.from_numpy(lse64), lse64_error(problem, lse64)
        outs.append(_as64(answer.out).reshape(t, B, Hq, Lq, -1))
        lses.append(_as64(answer.lse).reshape(t, B, Hq, Lq))
        out_budgets.append(ob.reshape(t, B, Hq, Lq, -1))
        lse_budgets.append(lb.reshape(t, B, Hq, Lq))
    o, l = np.concatenate(outs), np.concatenate(lses)  # [s, B, Hq, Lq, Dv], [s, B, Hq, Lq]
    b_o, b_l = np.concatenate(out_budgets), np.concatenate(lse_budgets)

    # the merge, in float64: m = max_t l_t, S = sum_t e^(l_t - m), LSE = m + log S,
    # w_t = e^(l_t - LSE), merged = sum_t w_t o_t. Every row sees its own position in every
    # block mask, so every lse_t is finite for a kernel that works.
    with np.errstate(invalid="ignore", over="ignore"):
        m = l.max(axis=0)
        log_s = np.log(np.exp(l - m).sum(axis=0))
        lse = m + log_s
        w = np.exp(l - lse)  # [s, B, Hq, Lq]
        merged = (w[..., None] * o).sum(axis=0)  # [B, Hq, Lq, Dv]

    # Tolerance, elementwise over [B, Hq, Lq, Dv]:
    # (1) the identity's certificate |ytilde - y| <= e^R diam kappa (identity_certificate);
    certificate = identity_certificate(inputs, 1.0 / math.sqrt(D))  # [B, Hq, Lq]
    # (2) the ALiBi call: |alibi out - y| <= its budget (and its certificate);
    # (3) the mask calls: merged - ytilde = sum_t w*_t (o_t - o*_t) + sum_t (w_t - w*_t)(o_t - c)
    #     for any c (both weight sets sum to 1), c = merged; w*_t the weights of the exact lse*_t.
    #     With |l_t - l*_t| <= lb_t <= Delta (the row's largest lse budget, or the float64
    #     evaluation's rounding for a kernel without lse), softmax weights
    #     move by a factor within e^(+-2 Delta): w*_t <= e^(2 Delta) w_t and
    #     |w_t - w*_t| <= w*_t (e^(2 Delta) - 1). So |merged - ytilde| <=
    #     e^(2 Delta) sum_t w_t b_t + e^(2 Delta) (e^(2 Delta) - 1) sum_t w_t |o_t - merged|;
    delta = b_l.max(axis=0)[..., None]  # [B, Hq, Lq, 1]
    grow = np.exp(2 * delta)
    mask_path = grow * (w[..., None] * b_o).sum(axis=0) \
        + grow * np.expm1(2 * delta) * (w[..., None] * np.abs(o - merged)).sum(axis=0)
    # (4) the merge's own float64 rounding: l_t - m errs by u|l_t - m|, its exp by u more; the
    #     sum of s terms by gamma_s; log S by u|log S| + gamma_s (|d log S| = |dS| / S); LSE by
    #     u|LSE|; l_t - LSE by u|l_t - LSE|; exp by u: w_t has relative error <= rho_t =
    #     u (|l_t - m| + |log S| + |LSE| + |l_t - LSE| + 3) + 2 gamma_s; the weighted sum of s
    #     products adds gamma_(s+1) sum_t w_t |o_t|. First order in u, times 1.01 for the rest.
    rho = U64 * (np.abs(l - m) + np.abs(log_s) + np.abs(lse) + np.abs(l - lse) + 3) + 2 * _gamma(s)
    rounding = 1.01 * ((rho[..., None] + _gamma(s + 1)) * w[..., None] * np.abs(o)).sum(axis=0)
    tol = certificate[..., None] + alibi_budget + mask_path + rounding

    with np.errstate(invalid="ignore"):
        error = np.abs(merged - _as64(alibi.out))  # NaN where either is not finite: ratio inf
    ratio, index = worst_element(error, tol)
    alibi_value = float(_as64(alibi.out)[index])
    detail = (f"out{format_index(index)}: ALiBi call {alibi_value:.6g}, merge of {s} mask "
              f"calls {float(merged[index]):.6g}: difference {float(error[index]):.3g} vs "
              f"tolerance {float(tol[index]):.3g} (certificate {float(certificate[index[:-1]]):.3g}, "
              f"ALiBi budget {float(alibi_budget[index]):.3g}, mask path "
              f"{float(mask_path[index]):.3g})")
    return IdentityCheck(Outcome(float(ratio), detail), float(certificate.max()),
                         float(np.median(certificate)), calls)

"""The kernel contract's truth: exact attention and its gradients, their tiers, and the error
budgets they serve.

    problem              AttentionProblem: the exact float64 inputs and options of one call
    visibility           which keys each query sees (mask, causal, window) and ALiBi distances
    alibi_slopes         the canonical ALiBi slopes, exact
    certified            tier 1: attention in Arb ball arithmetic, every digit proven
    fast_exact/          tier 2: exact products and double-double softmax, with a stated bound
    geometric_attention  closed form: scores in arithmetic progression (geometric weights)
    exact                the cheapest tier certain enough for a problem (what properties call)
    float64              a float64 evaluation for sizing budgets, never for judging
    error_budget         per-element worst-case and probabilistic budgets of a kernel's precision
    gradient_problem     GradientProblem: a forward problem and the dO, dlse fed into it
    certified_gradients  tier 1 for dQ, dK, dV: Arb balls, every digit proven
    exact_gradients      the cheapest certain tier for a gradient problem (tier 2: fast_exact/)
    gradient_budget      per-element worst-case budgets of dq, dk, dv for a kernel's precision

Each oracle's docstring states its claim, source and domain (docs/claims.md section 0).
Imports neither torch nor kernels/.
"""

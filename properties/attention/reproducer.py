"""A pasteable reproducer for one case of one property: a shell line and a Python snippet
(for a backward property, one that rebuilds dO and takes the gradients as attnspec does)."""

from __future__ import annotations

import shlex

from attnspec.properties.attention.recipe import Recipe


def reproducer(selector: str, property_name: str, recipe: Recipe, device: str,
               backward: bool = False) -> dict:
    case = recipe.to_json()
    shell = (f"attnspec reproduce {shlex.quote(selector)} --property {property_name} "
             f"--device {device} --case {shlex.quote(case)}")
    head = [
        "from attnspec.properties.loading import load_kernel",
        "from attnspec.properties.attention.recipe import Recipe",
        f"kernel = load_kernel({selector!r})",
    ]
    if not backward:
        lines = head + [
            "from attnspec.properties.attention.cases import build_case",
            f"case = build_case(Recipe.from_json({case!r}), {device!r})",
            "result = kernel.fn(case.q, case.k, case.v, **case.kwargs)",
        ]
    else:
        lines = head + [
            "from attnspec.properties.attention.backward_case import build_backward_case",
            "from attnspec.properties.attention.calls import call_backward",
            "from attnspec.properties.engine.invoker import Invoker",
            f"case = build_backward_case(Recipe.from_json({case!r}), {device!r}, "
            "kernel.spec.causal or 'bottom_right')",
            "f = case.forward  # f.q, f.k, f.v, f.kwargs; case.d_out is dO, case.d_lse dlse",
            "call = call_backward(Invoker(), kernel.fn, f.q, f.k, f.v, f.kwargs, case.d_out, "
            "case.d_lse, 'repro', 600)",
            "dq, dk, dv = call.dq, call.dk, call.dv",
        ]
    python = "\n".join(lines)
    return {"shell": shell, "python": python}

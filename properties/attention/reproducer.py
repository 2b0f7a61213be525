"""A pasteable reproducer for one case of one property: a shell line and a Python snippet."""

from __future__ import annotations

import shlex

from attnspec.properties.attention.recipe import Recipe


def reproducer(selector: str, property_name: str, recipe: Recipe, device: str) -> dict:
    case = recipe.to_json()
    shell = (f"attnspec reproduce {shlex.quote(selector)} --property {property_name} "
             f"--device {device} --case {shlex.quote(case)}")
    python = "\n".join([
        "from attnspec.properties.attention.cases import build_case",
        "from attnspec.properties.loading import load_kernel",
        "from attnspec.properties.attention.recipe import Recipe",
        f"kernel = load_kernel({selector!r}).fn",
        f"case = build_case(Recipe.from_json({case!r}), {device!r})",
        "result = kernel(case.q, case.k, case.v, **case.kwargs)",
    ])
    return {"shell": shell, "python": python}

"""Which declaration key would express what a kernel's failing cases share.

When one error breaks several properties (engine/causes.py), the cases that failed often share
a feature that the declaration controls (docs/kernel-contract.md): the kernel takes no
``scale=`` (declare ``"scale": False``), needs Dv == D (``"dv_equals_d": True``), or does not
take an option it declared. Counterexamples are shrunk to the simplest failing case, and the
strategies (attention/strategies.py) make the plain choice the simplest one: Dv == D, no
explicit scale, no causal mask, Lq = Lk = 1. So a departure from it that every counterexample
keeps is one the failure needs. (Head dims and lengths shrink to small odd values whatever the
cause, so they are never named.) Nothing here changes a verdict: the hint is one line beside
the error.
"""

from __future__ import annotations

import re
from attnspec.kernels.spec import KEYWORD_CAPABILITY


def declaration_hint(error: str, cases: list[dict]) -> str | None:
    """One line naming the declaration key for ``error`` on ``cases`` (recipes as data), or
    None when nothing the declaration controls is shared by every case."""
    keyword = re.search(r"unexpected keyword argument '(\w+)'", error)
    if keyword and keyword.group(1) in KEYWORD_CAPABILITY:
        name = keyword.group(1)
        if name == "scale":
            return ('the kernel takes no scale=: declare "scale": False, and attnspec will not '
                    'pass it (properties that need it are then not applicable)')
        return (f'the kernel takes no {name}=: remove "{KEYWORD_CAPABILITY[name]}" from its '
                f'declaration, or accept the keyword')
    if not cases:
        return None
    if all(c.get("value_dim") != c.get("head_dim") for c in cases):
        return ('every failing case has Dv != D: if the kernel needs Dv == D, declare '
                '"dv_equals_d": True')
    if all(c.get("scale") is not None for c in cases):
        return ('every failing case passes scale=: if the kernel does not take it, declare '
                '"scale": False')
    if all(c.get("causal") and c.get("q_len") != c.get("kv_len") for c in cases):
        return ('every failing case is causal with Lq != Lk: check the declared causal alignment '
                '("bottom_right" or "top_left")')
    return None

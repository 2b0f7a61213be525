"""The backward properties of the kernel contract, one per claim, named after it
(docs/kernel-contract.md "Gradients"). Each needs the kernel to declare ``backward`` and runs
on the devices its backward is declared for. One concept per module:

    gradient_match   gradients_match_oracle: dq, dk, dv against the exact gradients
                     (oracles/attention/exact_gradients.py) under derived budgets
                     (oracles/attention/gradient_budget.py)
    rules            gradients_finite_on_empty_rows, backward_deterministic,
                     backward_leaves_inputs_unchanged: exact rules of a backward call
    identities       key_gradients_sum_to_zero, value_gradients_sum_to_output_gradients:
                     oracle-free identities that reach large shapes
    context          the kernel as these properties see it (cases with dO, autograd calls)
    catalogue        the catalogue they register in
"""

from attnspec.properties.attention.backward import gradient_match, identities, rules
from attnspec.properties.attention.backward.catalogue import BACKWARD

ORDER = (
    "gradients_match_oracle",
    "gradients_finite_on_empty_rows",
    "backward_deterministic",
    "backward_leaves_inputs_unchanged",
    "key_gradients_sum_to_zero",
    "value_gradients_sum_to_output_gradients",
)
PROPERTIES = BACKWARD.ordered(ORDER)

__all__ = ["BACKWARD", "ORDER", "PROPERTIES", "gradient_match", "identities", "rules"]

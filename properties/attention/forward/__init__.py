"""The forward properties of the kernel contract, one per claim, named after it.

Each property draws recipes (attention/strategies.py), builds the case, calls the kernel
through the context (attention/context.py) and checks one claim, with tolerances from the error
budget (oracles/attention/error_budget.py) or exact (bitwise claims). One concept per module:

    oracle_match     output_matches_oracle, lse_matches_oracle: against the certified oracles
    contract_rules   empty_rows_as_declared, causal_alignment_as_declared,
                     output_shape_dtype_device: exact rules of the contract
    causality        no_future_leak: what causal masking and the window hide cannot reach a
                     row, bit for bit, at key lengths no oracle comparison reaches
    hygiene          inputs_unchanged, deterministic: bitwise claims about the call itself
    metamorphic      permutation, score shift, LSE merge, batch/head independence, query
                     scaling: a kernel against itself
    temperature      max weight, entropy, beta = 0 and beta -> infinity: the temperature laws
    sensitivity      option_sensitivity: each declared option changes what it should
    catalogue        the catalogue they register in
"""

from attnspec.properties.attention.forward import (causality, contract_rules, hygiene,
                                                   metamorphic, oracle_match, sensitivity,
                                                   temperature)
from attnspec.properties.attention.forward.catalogue import FORWARD

ORDER = (
    "output_matches_oracle",
    "lse_matches_oracle",
    "empty_rows_as_declared",
    "causal_alignment_as_declared",
    "output_shape_dtype_device",
    "inputs_unchanged",
    "deterministic",
    "no_future_leak",
    "key_value_permutation_equivariance",
    "score_shift_invariance",
    "lse_merge_of_key_splits",
    "batch_and_head_independence",
    "query_scaling_equals_scale",
    "max_weight_nondecreasing_in_inverse_temperature",
    "entropy_nonincreasing_in_inverse_temperature",
    "uniform_average_at_zero_temperature",
    "argmax_at_infinite_inverse_temperature",
    "option_sensitivity",
)
PROPERTIES = FORWARD.ordered(ORDER)

__all__ = ["FORWARD", "ORDER", "PROPERTIES", "causality", "contract_rules", "hygiene", "metamorphic",
           "oracle_match", "sensitivity", "temperature"]

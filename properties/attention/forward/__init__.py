"""The catalogue of properties, one per claim of the kernel contract, named after it."""

from attnspec.properties.attention.forward import contract_rules, hygiene, metamorphic, oracle_match, sensitivity, temperature
from attnspec.properties.attention.forward.base import CATALOG, Context, Outcome, Property

ORDER = (
    "output_matches_oracle",
    "lse_matches_oracle",
    "empty_rows_as_declared",
    "causal_alignment_as_declared",
    "output_shape_dtype_device",
    "inputs_unchanged",
    "deterministic",
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
assert set(ORDER) == set(CATALOG), set(ORDER) ^ set(CATALOG)
PROPERTIES = [CATALOG[name] for name in ORDER]

__all__ = ["CATALOG", "PROPERTIES", "Context", "Outcome", "Property", "contract_rules",
           "hygiene", "metamorphic", "oracle_match", "sensitivity", "temperature"]

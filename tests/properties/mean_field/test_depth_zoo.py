"""The depth test: the mean_field laws driven by the depth zoo (tests/zoo/depth_kernels.py).

The default run holds one caught kernel and its control on the cheapest law that separates
them; the long run checks every kernel of the zoo against the table of docs/mean-field.md
(which laws separate it from the correct kernels at the ci plans)."""

from pathlib import Path

import pytest

from attnspec.properties.attention.context import isolate
from attnspec.properties.engine.results import HELD, NOT_APPLICABLE, VIOLATED
from attnspec.properties.loading import load_kernel
from attnspec.properties.mean_field.catalogue import LAWS_BY_NAME
from attnspec.properties.mean_field.source import KernelFlowSource

ZOO = Path(__file__).parents[2] / "zoo" / "depth_kernels.py"


def _source(name):
    subject = load_kernel(f"{ZOO}:{name}")
    isolate(subject, "none")
    return KernelFlowSource(subject)


def test_energy_identity_separates_p_rounded_to_bfloat16_from_its_control():
    law = LAWS_BY_NAME["energy_dissipation"]
    assert law.check(_source("control_dense_f32"), "ci").status == HELD
    bad = law.check(_source("p_rounded_to_bfloat16_f32"), "ci")
    assert bad.status == VIOLATED and bad.ratio > 3


def test_a_kernel_without_lse_or_mask_gets_not_applicable_with_the_reason():
    subject = load_kernel("sdpa-math", {"dtypes": ["float64"], "lse": False, "mask": False})
    isolate(subject, "none")
    source = KernelFlowSource(subject)
    result = LAWS_BY_NAME["two_token_equilibrium"].check(source, "ci")
    assert result.status == NOT_APPLICABLE and "mask" in result.reason
    numbers = {}
    from attnspec.properties.mean_field.flows import supported_cases

    kept = supported_cases(source, LAWS_BY_NAME["energy_dissipation"].plan(source, "ci"), numbers)
    assert [c.normalisation for _, c in kept] == ["SA"]  # plain SA only: USA needs lse, prompt mask
    assert any("lse" in why for why in numbers["not_applicable"])


# which laws separate each kernel at the ci plans (measured; docs/mean-field.md "Depth test")
EXPECTED = {
    "control_dense_f32": set(), "control_tiled_f32": set(), "control_dense_f64": set(),
    "denominator_epsilon_f32": set(), "denominator_epsilon_tiny_f32": set(),
    "denominator_epsilon_f64": set(),
    "bf16_running_output_f32": {"energy_dissipation", "collapse", "two_token_equilibrium"},
    "p_rounded_to_bfloat16_f32": {"energy_dissipation", "two_token_equilibrium"},
    "scale_off_by_2e_minus_20_f32": set(),
    "scale_off_by_2e_minus_30_f64": {"two_token_equilibrium"},
}


@pytest.mark.long
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_depth_table(name):
    source = _source(name)
    caught = set()
    for law_name, law in LAWS_BY_NAME.items():
        result = law.check(source, "ci")
        assert result.status in (HELD, VIOLATED), (law_name, result.reason)
        if result.status == VIOLATED:
            caught.add(law_name)
    assert caught == EXPECTED[name]

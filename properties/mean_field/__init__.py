"""Properties of paper 3, mean-field token dynamics with auxiliary variables (Imaizumi, Koyama,
Isobe, Hayashi 2026; docs/mean-field.md): the flows' exact laws, with any contract kernel as the
flows' attention (a depth test of that kernel).

    source            the flows' attention: the dense reference, or a user's kernel (dtype,
                      padding, scale, mask and lse needs, the per-call error bound delta)
    flows             a case (model, sizes, horizon, step), its kernel and oracle models, its run
    invariants_law    unit norm, permutation equivariance, the hemisphere invariant
    energy_law        energy non-decreasing and its gain = the integrated exact dissipation
    collapse_law      the plain and logit-PE flows collapse (horizon chosen for metastability)
    prompt_laws       the prompt model never collapses and obeys its diameter bound; the
                      two-token equilibrium to 1e-12 in float64
    additive_law      the additive model's pushforward limit; equal-z tokens merge
    catalogue         the laws in report order
    suite             the mean_field suite (attnspec check KERNEL --suite mean_field)
"""

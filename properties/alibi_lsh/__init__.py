"""Properties of paper 2, ALiBi as the expectation of random block masks (Wolfson, Wagner 2026).

Modules are listed here as they land (docs/claims.md, section 2).

- kernel_properties.py: checks of the positional-LSH kernel's masks and outputs (mask structure,
  collision frequencies, the spectral error band and tail, error within a tolerance), each
  returning a Verdict (statistic against threshold, with its sample size and false-alarm rate).
- identity.py: the identity as a check of any kernel that declares alibi and mask: its ALiBi
  output against the LSE-weighted merge of its outputs under s sampled block masks, within the
  certificate e^R diam(V) kappa plus the budgets (alibi_path_matches_mask_path).
- suite.py: the alibi_lsh suite (quick, ci with fixed seeds, thorough) that runs it.
"""

"""Properties of paper 2, ALiBi as the expectation of random block masks (Wolfson, Wagner 2026).

Modules are listed here as they land (docs/claims.md, section 2).

- kernel_properties.py: checks of the positional-LSH kernel's masks and outputs (mask structure,
  collision frequencies, the spectral error band and tail, error within a tolerance), each
  returning a Verdict (statistic against threshold, with its sample size and false-alarm rate).
"""

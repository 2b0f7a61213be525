"""Error-free arithmetic on numpy arrays of float64; knows no attention.

    double_double      error-free transforms (two_sum, two_prod), double-double add, mul, div,
                       conversions to and from mpmath
    double_double_exp  table-driven exp, and log and tanh, in double-double with error bounds
    exact_products     exact matrix products of float64 matrices by Ozaki splitting over BLAS

The tier-2 attention oracle (oracles/attention/fast_exact/) is built on them.
"""

"""Error-free arithmetic on numpy arrays; knows no attention."""

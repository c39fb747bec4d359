"""For tests and benchmarks: the independent NumPy reference model (``reference``) and toy
priors builders (``toy``)."""

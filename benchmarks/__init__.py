"""Benchmarks against the machine's own limits: ``python -m benchmarks NAME [--quick]``.

Every figure is a ratio against a limit measured in the same run (median of several rounds,
min and max shown); see ``benchmarks/README.md``.
"""

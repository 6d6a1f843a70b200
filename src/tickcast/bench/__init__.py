"""Developer benchmarks (``python -m tickcast.bench.<name>``); not used at run time.

They import the dev-only comparison libraries (TA-Lib, talipp, numpy) inside
``main`` so that importing this package stays free.
"""

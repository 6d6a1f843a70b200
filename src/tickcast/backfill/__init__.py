"""`tickcast backfill`: warm the feature state in Redis from history before going live.

Sources (sources.py, polygon_flat.py) yield each symbol's history as ticks; warm.py
folds them through the same bar and indicator code the features stage runs and
commits one state record per symbol, so the first live bar already has ready
indicators. Nothing is published: history warms state, it does not re-signal.
"""

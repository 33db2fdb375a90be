"""Benchmarks of the default bake: training speed at scale, accuracy, serving (``make bench``)."""

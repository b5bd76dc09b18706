"""PyAV decoding and encoding; the only package that imports ``av``."""

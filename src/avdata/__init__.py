"""avdata: audio-visual datasets from raw videos and published segment lists.

Pipeline: sources -> fetch -> extract -> index -> weights / embed -> balance -> mixtures -> loaders.
See docs/architecture.md.
"""

__version__ = "0.1.0"

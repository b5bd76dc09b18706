"""Extraction: plan gold and negative clips per segment and cut audio and frames from each video."""

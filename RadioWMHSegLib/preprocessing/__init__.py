"""Preprocessing: from a FLAIR on any grid to the network's normalised MNI crop (see pipeline.py)."""

from .intensity import normalise_intensity
from .pipeline import PreprocessedCase, preprocess
from .skull_strip import mask_from_stripped

__all__ = ["PreprocessedCase", "preprocess", "normalise_intensity", "mask_from_stripped"]

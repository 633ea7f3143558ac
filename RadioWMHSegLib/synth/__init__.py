"""Synthetic FLAIR generator: template anatomy, lesion phenotypes, contrast, and cohorts on disk."""

from .generator import generate_case, generate_cohort
from .lesions import PHENOTYPES
from .native_sample import make_native_sample

__all__ = ["generate_case", "generate_cohort", "make_native_sample", "PHENOTYPES"]

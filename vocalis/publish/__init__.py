"""Packed bundles: write one with the pack stage, load one with ``InferenceModel.from_packed``."""

from vocalis.publish.inference_model import InferenceModel, UntrustedCodeError
from vocalis.publish.meta import BundleIntegrityError

__all__ = ["BundleIntegrityError", "InferenceModel", "UntrustedCodeError"]

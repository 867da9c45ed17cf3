"""Thresher's data pipeline: raw text in, audited training data out."""

__version__ = "0.1.0"

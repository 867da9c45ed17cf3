"""Stages: one decision each. Every module in this package registers its stages on import."""

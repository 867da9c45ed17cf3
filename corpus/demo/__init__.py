"""The bundled sample corpus for ``make demo`` and its generator."""

"""The published heuristic rule sets (Gopher, C4, FineWeb) as stages, with per-language overrides."""

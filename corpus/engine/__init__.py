"""The engine: plans tasks, runs them on an executor, owns phases, markers and accounting."""

"""One module per ``thresher`` subcommand; each defines ``register(subparsers)``."""

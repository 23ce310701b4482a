"""One module per `numgrad` subcommand: each has ``register(subparsers)`` and a ``run(args) -> int``."""

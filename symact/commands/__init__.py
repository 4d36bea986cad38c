"""The subcommands of the ``symact`` command line, one module each (see symact/cli.py)."""

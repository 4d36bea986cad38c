"""``python -m symact``: the same as the ``symact`` command."""

from .cli import main

raise SystemExit(main())

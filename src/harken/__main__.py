"""``python -m harken`` is the ``harken`` command."""

from .cli import main

raise SystemExit(main())

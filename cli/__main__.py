"""``python -m cli``: the same as ``routing-agent``."""

from cli.main import main

raise SystemExit(main())

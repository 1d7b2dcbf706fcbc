"""``python -m srn``: the ML command line."""

from srn.cli import main

raise SystemExit(main())

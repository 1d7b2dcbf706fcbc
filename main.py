"""Launch DarkFace Studio from a source checkout: ``python main.py [folder]``."""

from app.main import main

raise SystemExit(main())

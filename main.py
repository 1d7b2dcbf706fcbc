"""Launch DarkFace Studio from a source checkout: ``python main.py [folder]``."""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("darkface_resources") is None:  # not installed: use this checkout's resources/
    _spec = importlib.util.spec_from_file_location(
        "darkface_resources", Path(__file__).resolve().parent / "resources" / "__init__.py")
    sys.modules["darkface_resources"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["darkface_resources"])

from app.main import main  # noqa: E402

raise SystemExit(main())

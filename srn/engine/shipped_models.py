"""Models that come with the product, by the short names the command line accepts.

``demo`` is the small SRN in ``resources/models/`` trained on synthetic faces: enough to try
detection, review and fine-tuning without downloading anything, and nothing more (its model
card says how it was made and what it scores).
"""

from __future__ import annotations

import os
from pathlib import Path

import darkface_resources

DEMO = "demo"
DEMO_MODEL_NAME = "Demo model (synthetic faces)"
"""How the demo model is named in every model picker."""


def demo_model_path() -> Path:
    """The shipped demo checkpoint (raises ``FileNotFoundError`` if the install lacks it)."""
    path = darkface_resources.DEMO_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"the demo model is not installed ({path} is missing): reinstall DarkFace Studio")
    return path


def resolve_weights(spec: str | os.PathLike[str]) -> Path:
    """``spec`` as a checkpoint path: ``"demo"`` names the shipped demo model, anything else is a file.

    A file literally called ``demo`` in the working folder wins over the alias, so an existing
    command line never changes meaning (a folder of that name does not: it is no checkpoint).
    """
    if str(spec) == DEMO and not Path(DEMO).is_file():
        return demo_model_path()
    return Path(spec)

"""The files the product ships beside its code: icons and model weights (``darkface_resources``).

This folder is installed as the package ``darkface_resources`` (``pyproject.toml`` maps it), so
``path()`` finds the files the same way in a source checkout, an editable install, a wheel and
a PyInstaller bundle. It holds no code beyond this locator; ``srn`` and ``app`` both use it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent

DEMO_MODEL = ROOT / "models" / "demo-srn-r18.pth"
"""The demo SRN trained on synthetic faces (see ``models/README.md``): for trying the app."""


def path(*parts: str) -> Path:
    """The shipped file ``parts`` (e.g. ``path("icons", "darkface-studio-32.png")``)."""
    return ROOT.joinpath(*parts)


SCI_WEIGHTS = ROOT / "enhance" / "sci"
"""The SCI enhancer's illumination weights (the authors', MIT; see ``enhance/sci/README.md``)."""

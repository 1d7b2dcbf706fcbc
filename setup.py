"""The package list, which ``pyproject.toml`` alone cannot say: ``srn*`` and ``app*`` found in the
tree, plus the top-level ``resources/`` folder (icons, shipped weights, model cards) installed as
the package ``darkface_resources``. Everything else is in ``pyproject.toml``."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["srn", "srn.*", "app", "app.*"]), "darkface_resources"],
    package_dir={"darkface_resources": "resources"},
)

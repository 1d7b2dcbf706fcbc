"""SRN: the ML core of DarkFace Studio (enhancement, detector, data, training, formats, metrics).

This package never imports Qt, SQLAlchemy or the ``app`` package, so it runs on a headless
GPU server and in ``torchrun`` workers exactly as it runs inside the desktop app.
"""

__version__ = "0.1.0"

"""DarkFace Studio: the desktop app for reviewing face detections on night-time images.

``app`` is the product (windows, background jobs, later the project store); it imports the
``srn`` ML core, never the other way round, so ``srn`` stays usable on a headless server.
"""

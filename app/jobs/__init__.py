"""Background work (QThread workers) that must never block the window's event loop."""

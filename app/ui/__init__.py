"""Widgets and windows. Each module holds one piece so the review GUI can reuse them."""

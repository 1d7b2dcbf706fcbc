"""Datasets, augmentation and synthetic night-face data."""

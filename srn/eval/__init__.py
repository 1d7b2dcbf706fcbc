"""Evaluation metrics that reproduce the official WIDER FACE and DARK FACE tools."""

"""Running the detector: inference, training, checkpoints."""

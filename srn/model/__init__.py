"""The SRN detector: backbone, FPN, two-step heads, anchors, box coding, losses."""

"""Image enhancement for night images (MSRCR and the classics it is compared with)."""

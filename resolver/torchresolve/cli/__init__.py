"""cli seam."""

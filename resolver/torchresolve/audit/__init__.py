"""audit seam."""

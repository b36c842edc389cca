"""verify seam."""

"""sources seam."""

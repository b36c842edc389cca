"""solver seam."""

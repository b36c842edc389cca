"""writers seam."""

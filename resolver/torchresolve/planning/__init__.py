"""planning seam."""

"""db seam."""

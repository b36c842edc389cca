"""The curated compatibility database (TOML files), shipped as ``torchresolve._data``."""

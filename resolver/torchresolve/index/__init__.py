"""The package-index seam: which files a project has, and what each file depends on.

Sources are configured the way pip configures them (:func:`load_index_config`); the
:class:`IndexClient` reads PEP 691/503 pages and find-links, and reads dependency metadata
cheapest first (PEP 658 file, HTTP range requests into wheels, small downloads, static sdist
metadata, the project JSON API), caching everything under :func:`default_cache_dir`.
"""

from __future__ import annotations

from torchresolve.index.cache import Cache, default_cache_dir
from torchresolve.index.client import CacheMissError, IndexClient, json_api_url
from torchresolve.index.config import IndexConfig, load_index_config
from torchresolve.index.http import TransferStats, make_session
from torchresolve.index.model import DistFile, Metadata, TargetFiles
from torchresolve.index.tags import supports, target_tags

__all__ = [
    "Cache",
    "CacheMissError",
    "DistFile",
    "IndexClient",
    "IndexConfig",
    "Metadata",
    "TargetFiles",
    "TransferStats",
    "default_cache_dir",
    "json_api_url",
    "load_index_config",
    "make_session",
    "supports",
    "target_tags",
]

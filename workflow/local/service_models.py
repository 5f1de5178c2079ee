"""AWS service models read once per engine process, and parsed once per installation.

botocore parses a service's JSON model (and the endpoint rules, the partitions) for the first
client of each session, and moto builds a new loader, which lists botocore's data directory
again, for every service it answers; the same files are parsed two or three times per process
(0.3-1.3 s of a ``pipeline run`` on this machine). Here:

- one botocore loader serves every boto3 session the engine creates, and one moto loader
  (botocore's, with moto's extras) serves moto; ``Loader`` caches its results per instance;
- both read each data file through ``PickledFileLoader``: the JSON is parsed once per
  installation and kept pickled (3-5 times faster to load) under the engine's cache, keyed by
  the file's path, size and modification time;
- moto lists a service's regions once per process, not once per backend it builds (one per
  service, again after every reset).

The reliances on moto's ``create_loader`` and ``AccountSpecificBackend._generate_regions`` and
``get_session``, and
on botocore's ``Session.register_component("data_loader")`` and ``JSONFileLoader._load_file``,
are guarded by tests in ``tests/workflow/test_moto_reliances.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
import botocore.session
from botocore.loaders import Loader
from moto.core import loaders as moto_loaders
from moto.core import utils as moto_utils
from moto.core.base_backend import AccountSpecificBackend

from workflow.local.model_cache import PickledFileLoader, model_cache_dir


@cache
def _file_loader() -> PickledFileLoader:
    return PickledFileLoader(model_cache_dir())


@cache
def reader_session() -> botocore.session.Session:
    """A botocore session of the process for reading models (``model_reader_loader``)."""
    session = botocore.session.get_session()
    session.register_component("data_loader", model_reader_loader())
    return session


@cache
def botocore_loader() -> Loader:
    return Loader(file_loader=_file_loader())


@cache
def model_reader_loader() -> Loader:
    """A loader for code that reads models without building clients: botocore rewrites a model's
    data when it builds a client (S3's request URIs lose their ``{Bucket}``), so the clients'
    loader does not serve the unchanged models (``wire.py`` matches requests against those)."""
    return Loader(file_loader=_file_loader())


@cache
def moto_loader() -> moto_loaders.Loader:
    return moto_loaders.Loader(extra_search_paths=[moto_loaders.moto_root], file_loader=_file_loader())


_REGIONS: dict[str, tuple[str, ...]] = {}  # service name -> the regions botocore lists for it


def default_session(region: str) -> boto3.Session:
    """A new default boto3 session reading its models through the process's loader."""
    session: boto3.Session = boto3.setup_default_session(region_name=region) or boto3.DEFAULT_SESSION
    botocore_session: Any = session._session
    botocore_session.register_component("data_loader", botocore_loader())
    return session


@contextmanager
def moto_models_shared() -> Iterator[None]:
    """moto reads its models through one loader, and lists each service's regions once, until the block ends."""
    original_loader = vars(moto_utils)["create_loader"]
    original_regions = AccountSpecificBackend._generate_regions

    def regions(backend: AccountSpecificBackend[Any], service_name: str) -> list[str]:
        if service_name not in _REGIONS:
            _REGIONS[service_name] = tuple(original_regions(backend, service_name))
        return list(_REGIONS[service_name])

    moto_utils.create_loader = moto_loader  # type: ignore[attr-defined]
    AccountSpecificBackend._generate_regions = regions  # type: ignore[method-assign,assignment]
    # The session moto lists regions with (one per process) reads through the clients' loader too.
    AccountSpecificBackend.get_session()._session.register_component("data_loader", botocore_loader())
    try:
        yield
    finally:
        moto_utils.create_loader = original_loader  # type: ignore[attr-defined]
        AccountSpecificBackend._generate_regions = original_regions  # type: ignore[method-assign]

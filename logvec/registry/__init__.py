"""The model registry: fitted models published as numbered, content-addressed versions, one of them active.

A fleet of workers shares one model so that their vectors compare: the first worker to take the fit lease
fits on its warm-up lines and publishes; the others wait for the published version and load it. Versions
never change once published (`model_id` is the hash of the fitted parts); which one the fleet uses is the
*active* pointer, moved only by `activate` (`logvec model activate`, or the first publish).

Backends, chosen by `registry.type`:
* `directory.DirectoryRegistry` — a folder (the data directory's `models/`, or a shared volume); the fit
  lease is a file lock.
* `opensearch.OpenSearchRegistry` — an index beside the records (`INDEX-models`): the model in chunks, the
  way OpenSearch ML Commons stores models; the lease is a create-only document with an expiry.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from logvec.config import PipelineConfig

if TYPE_CHECKING:
    from logvec.model import Model
    from logvec.store import Store, StoreReader


class RegistryError(RuntimeError):
    """A version that does not exist, or a registry that cannot be used as asked."""


@dataclass
class ModelVersion:
    version: int
    model_id: str
    created: str  # ISO 8601 UTC
    active: bool
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Lease(Protocol):
    """The right to fit and publish, held by one worker at a time; a holder that dies loses it."""

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it (or its holder's lease lapsed); never waits."""
        ...

    def release(self) -> None: ...


class Registry(Protocol):
    def publish(self, model: Model, activate: bool = False, by: str = "") -> ModelVersion:
        """Store the model as a new version (or find it, when these very parts are already published); sets
        `model.meta["model_id"]` and `["version"]`. With `activate`, it becomes the active version."""
        ...

    def versions(self) -> list[ModelVersion]:
        """Every published version, oldest first."""
        ...

    def active(self) -> ModelVersion | None: ...

    def load(self, version: int | None = None, config: PipelineConfig | None = None) -> Model:
        """A version's model (None: the active one); refused when fitted under another pipeline hash."""
        ...

    def set_active(self, version: int, by: str = "") -> ModelVersion: ...

    def lease(self, holder: str) -> Lease: ...

    def describe(self) -> str:
        """Where the registry is, for messages."""
        ...

    def close(self) -> None: ...


def open_registry(config: PipelineConfig, data_dir: str | Path, patient: bool = True) -> Registry:
    """`patient`: a server that does not answer is retried (workers), else reported at once (readers)."""
    r = config.registry
    kind = r.type
    if kind == "auto":
        kind = "opensearch" if config.store.type == "opensearch" else "local"
    if kind == "opensearch":
        if config.store.type != "opensearch":
            raise RegistryError("registry.type opensearch needs store.type opensearch (it uses that cluster)")
        from logvec.registry.opensearch import OpenSearchRegistry

        return OpenSearchRegistry(config.store, r, patient=patient)
    from logvec.registry.directory import DirectoryRegistry

    root = Path(r.path) if kind == "directory" and r.path else Path(data_dir) / "models"
    return DirectoryRegistry(root)


def activate(registry: Registry, store: Store | StoreReader, version: int, by: str = "") -> ModelVersion:
    """Make `version` the fleet's model: its index exists and the store's alias points at it first (or an
    embedded store says it cannot take it), then the active pointer moves, so whoever follows the pointer
    finds the index ready."""
    found = {v.version: v for v in registry.versions()}.get(version)
    if found is None:
        raise RegistryError(f"no version {version} in {registry.describe()} (`logvec model list`)")
    prepare = getattr(store, "activate_model", None)
    if prepare is not None:
        prepare(found.model_id, int(found.meta["dim"]))
    return registry.set_active(version, by=by)


def who(with_pid: bool = True) -> str:
    """This process, as a lease holder or as who published or activated a version (`user@host:pid`); without
    the pid, the person at a command line (feedback)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container's uid with no passwd entry
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}" + (f":{os.getpid()}" if with_pid else "")

"""A registry in a folder: the data directory's `models/` (one machine) or a volume every worker mounts.

Layout: `versions/000001/{model.pkl,meta.json}` (a version appears whole: it is written under a temporary
name and renamed, and a rename onto a taken number fails, so two publishers never share one), `ACTIVE`
(the active version, replaced whole), `fit.lock` (the fit lease: a file lock, which the OS releases when
its holder dies however it dies).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from logvec.atomic import replaced
from logvec.config import PipelineConfig
from logvec.filelock import FileLock
from logvec.registry import ModelVersion, RegistryError

if TYPE_CHECKING:
    from logvec.model import Model


def content_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FileLease:
    def __init__(self, path: Path) -> None:
        self._lock = FileLock(path)

    def try_acquire(self) -> bool:
        return self._lock.acquire(give_up=lambda: True)

    def release(self) -> None:
        self._lock.release()


class DirectoryRegistry:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"

    def describe(self) -> str:
        return str(self.root)

    def _dir(self, version: int) -> Path:
        return self.versions_dir / f"{version:06d}"

    def _read(self, version: int, active: int | None) -> ModelVersion:
        meta = json.loads((self._dir(version) / "meta.json").read_text())
        return ModelVersion(version, meta["model_id"], meta.get("published", meta.get("created", "")),
                            version == active, meta)

    def _active_number(self) -> int | None:
        try:
            return int(json.loads((self.root / "ACTIVE").read_text())["version"])
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, KeyError, ValueError) as e:
            raise RegistryError(f"{self.root / 'ACTIVE'} is damaged ({e}); `logvec model activate N` "
                                "rewrites it") from None

    def _numbers(self) -> list[int]:
        if not self.versions_dir.is_dir():
            return []
        return sorted(int(p.name) for p in self.versions_dir.iterdir() if p.name.isdigit())

    def versions(self) -> list[ModelVersion]:
        active = self._active_number()
        return [self._read(n, active) for n in self._numbers()]

    def active(self) -> ModelVersion | None:
        n = self._active_number()
        return self._read(n, n) if n is not None else None

    def publish(self, model: Model, activate: bool = False, by: str = "") -> ModelVersion:
        data = model.to_bytes()
        model_id = content_id(data)
        for v in self.versions():
            if v.model_id == model_id:  # these parts are published already
                model.meta.update(model_id=model_id, version=v.version)
                return self.set_active(v.version, by) if activate else v
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.versions_dir / f".publishing-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir()
        try:
            while True:
                version = (self._numbers() or [0])[-1] + 1
                meta = {**model.meta, "model_id": model_id, "version": version, "published": utc_now(),
                        "published_by": by}
                (tmp / "model.pkl").write_bytes(data)
                (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
                try:
                    os.rename(tmp, self._dir(version))  # fails when another publisher took the number
                    break
                except OSError:
                    continue
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        model.meta.update(model_id=model_id, version=version, published=meta["published"])
        published = self._read(version, self._active_number())
        return self.set_active(version, by) if activate else published

    def load(self, version: int | None = None, config: PipelineConfig | None = None) -> Model:
        from logvec.model import Model, ModelError

        if version is None:
            version = self._active_number()
            if version is None:
                raise ModelError(f"no active model in {self.root}: run `logvec fit` or `logvec run` first")
        d = self._dir(version)
        if not d.is_dir():
            raise RegistryError(f"no version {version} in {self.root} (`logvec model list`)")
        return Model.load(d, config)

    def set_active(self, version: int, by: str = "") -> ModelVersion:
        if not self._dir(version).is_dir():
            raise RegistryError(f"no version {version} in {self.root} (`logvec model list`)")
        self.root.mkdir(parents=True, exist_ok=True)
        with replaced(self.root / "ACTIVE") as tmp:
            tmp.write_text(json.dumps({"version": version, "activated": utc_now(), "by": by}) + "\n")
        return self._read(version, version)

    def lease(self, holder: str) -> FileLease:
        return FileLease(self.root / "fit.lock")

    def close(self) -> None:
        pass

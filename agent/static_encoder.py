"""A static (model2vec) embedding model distilled locally from the bundled MiniLM."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.artifacts import artifact, minilm_path
from agent.embedder import tail_cut

#: What the build does; part of the artifact's hash and, through ``VERSION``, of the id. No
#: SIF weighting of frequent tokens, as measured: with model2vec's default weighting (v1),
#: `default`'s fresh-prompt AUDC on llmrouter_dcrouter was 0.006 below MiniLM's (10 seeds;
#: 0.007 with 384 dimensions), without it 0.003 (BENCHMARKS.md, "Encoders").
RECIPE: dict[str, Any] = {"pca_dims": 256, "sif_coefficient": None, "quantize_to": "float16"}
VERSION = "v2"


def distill_static(out: Path) -> None:
    """Distil the bundled MiniLM into a model2vec static model saved in ``out``.

    transformers' load report (the bundled weights carry a ``position_ids`` buffer its
    ``BertModel`` does not use: harmless) and its weight-loading bar are silenced; model2vec's
    "Encoding tokens" bar, the build's progress through MiniLM's vocabulary, stays."""
    from model2vec.distill import distill
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = distill(
            model_name=str(minilm_path()),
            pca_dims=int(RECIPE["pca_dims"]),
            sif_coefficient=RECIPE["sif_coefficient"],
            quantize_to=str(RECIPE["quantize_to"]),
            device="cpu",
        )
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    model.save_pretrained(str(out))


class StaticMiniLMEmbedder:
    """model2vec's static embeddings of MiniLM's vocabulary: a token lookup and a mean.

    Distilled on first use into the per-user cache (:func:`agent.artifacts.artifact`; about
    half a minute on one core) and loaded lazily. Long prompts are cut to their last
    ``tail_chars`` characters as in :class:`~agent.embedder.MiniLMEmbedder`.
    """

    _lock = threading.Lock()

    def __init__(self, *, tail_chars: int | None = 1000) -> None:
        self.tail_chars = tail_chars

    @property
    def id(self) -> str:
        """``minilm-l6-v2-m2v256-v2``, plus the tail cut when there is one."""
        tail = f"-tail{self.tail_chars}" if self.tail_chars else ""
        return f"minilm-l6-v2-m2v{RECIPE['pca_dims']}-{VERSION}{tail}"

    @property
    def dim(self) -> int:
        """The distilled dimension (256)."""
        return int(RECIPE["pca_dims"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into unit-norm float32 rows of length :attr:`dim`."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.asarray(
            self._model().encode(tail_cut(texts, self.tail_chars), show_progress_bar=False),
            dtype=np.float32,
        )
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.ascontiguousarray(vecs / np.clip(norms, 1e-12, None))

    def _model(self) -> Any:
        model = self.__dict__.get("_loaded")
        if model is None:
            with self._lock:
                model = self.__dict__.get("_loaded")
                if model is None:
                    from model2vec import StaticModel

                    folder = artifact("minilm-m2v", RECIPE, distill_static)
                    model = self._loaded = StaticModel.from_pretrained(str(folder))
        return model

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_loaded"}

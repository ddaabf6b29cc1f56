"""A policy's parameters and its saved state: parameters, pool, counters and RNG, plus what
the rule learned (its :meth:`_extra_state`), as plain JSON-safe data that restores it exactly.
The :class:`~policies.base.Policy` half that saves it (this module does not import
:mod:`policies.base`)."""

from __future__ import annotations

import inspect
import json
from typing import Any, Self

import numpy as np

#: Every concrete policy class by name, for :meth:`Persistent.from_state`.
REGISTRY: dict[str, type[Persistent]] = {}


class Persistent:
    """Parameters (``get_params``, ``clone``) and exact state (``to_state``, ``from_state``)."""

    _names: list[str]
    _k: int
    _cost: np.ndarray
    _acc: np.ndarray
    _cost_scale: float
    _rng: np.random.Generator
    _t: int
    _decided: int

    #: Constructor parameters older versions saved that this one no longer takes (ignored
    #: when loading their states).
    _RETIRED_PARAMS: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls):
            REGISTRY[cls.__name__] = cls

    # -- parameters ----------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, gathered over the class hierarchy."""
        params: dict[str, Any] = {}
        for cls in type(self).__mro__:
            if "__init__" in vars(cls) and issubclass(cls, Persistent):
                for p in inspect.signature(cls.__init__).parameters.values():
                    if p.name != "self" and p.kind is p.KEYWORD_ONLY:
                        params[p.name] = getattr(self, p.name)
        return params

    def clone(self) -> Self:
        """A fresh, untrained policy with the same parameters."""
        return type(self)(**self.get_params())

    # -- state ---------------------------------------------------------------------------------
    @property
    def counters(self) -> tuple[int, int]:
        """(feedback updates, decisions) so far."""
        return self._t, self._decided

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume exactly: parameters, pool, learned state, RNG. JSON-safe
        (floats round-trip exactly through JSON)."""
        self._ready()
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        return {
            "class": type(self).__name__,
            "params": params,
            "names": list(self._names),
            "k": self._k,
            "cost": self._cost.tolist(),
            "acc": self._acc.tolist(),
            "cost_scale": self._cost_scale,
            "rng": self._rng.bit_generator.state,
            "t": self._t,
            "decided": self._decided,
            "extra": self._extra_state(),
        }

    @staticmethod
    def from_state(state: dict[str, Any]) -> Any:
        """The policy :meth:`to_state` described, in exactly that state."""
        try:
            cls = REGISTRY[state["class"]]
        except KeyError:
            raise ValueError(
                f"unknown policy class {state.get('class')!r} in saved state"
            ) from None
        params = {
            k: tuple(v) if isinstance(v, list) else v
            for k, v in state["params"].items()
            if k not in cls._RETIRED_PARAMS
        }
        try:
            policy = cls(**params)
            policy._restore(state)
        except (KeyError, TypeError) as exc:  # a parameter or a part this version lacks
            raise ValueError(
                f"this {state['class']} state was saved by another version of routing-agent "
                f"({type(exc).__name__}: {exc}); build the policy again from its profiles"
            ) from exc
        return policy

    def _restore(self, state: dict[str, Any]) -> None:
        self._names = list(state["names"])
        self._k = int(state["k"])
        self._cost = np.asarray(state["cost"], dtype=np.float64)
        self._acc = np.asarray(state["acc"], dtype=np.float64)
        self._cost_scale = float(state["cost_scale"])
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]
        self._t = int(state["t"])
        self._decided = int(state["decided"])
        self._load_extra_state(state["extra"])

    def to_json(self) -> str:
        return json.dumps(self.to_state())

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_state(json.loads(text))

    def _extra_state(self) -> dict[str, Any]:
        """What the rule learned, beyond the shared pool (JSON-safe)."""
        return {}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore what :meth:`_extra_state` saved."""

    def _ready(self) -> Self:
        raise NotImplementedError

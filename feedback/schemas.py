"""Request and response bodies of the HTTP API (pydantic; no tables here)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    model_validator,
)
from pydantic.config import JsonDict

from agent.tags import MAX_TAG_CHARS, MAX_TAGS, normalise_tags
from feedback.model_names import ModelNameStr, ModelRef
from feedback.proxy.openai_body import normalise_route_body
from feedback.validation import (
    NO_NUL,
    NOT_BLANK,
    Documented,
    Label,
    PromptStr,
    SafeStr,
    safe_text,
)

#: No unknown fields, no NaN or infinity, no coercion (``"0.5"`` is not a number).
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


def _whole_number(value: Any) -> Any:
    """JSON has one number type, and JSON Schema counts ``7.0`` as the integer 7: take it as
    7 (``7.5`` stays a float and is refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: The largest prompt key (keys are 63-bit).
MAX_PROMPT_KEY = 2**63 - 1


def _in_key_range(value: int) -> int:
    """A key from 0 to :data:`MAX_PROMPT_KEY`, compared as JSON Schema validators compare
    numbers this large (as doubles, where ``2**63 - 1`` is ``2**63``): a key the schema allows
    is taken, and one past the largest matches no prompt (404)."""
    if value < 0 or float(value) > float(MAX_PROMPT_KEY):
        raise ValueError(f"must be a prompt key from 0 to {MAX_PROMPT_KEY}")
    return value


#: A prompt key that also takes an integral JSON number such as ``7.0``.
PromptKey = Annotated[
    int,
    BeforeValidator(_whole_number),
    AfterValidator(_in_key_range),
    Documented(minimum=0, maximum=MAX_PROMPT_KEY),
]


def _exactly_one(*names: str) -> list[JsonValue]:
    """JSON schema: exactly one of ``names`` is given and not null."""
    return [{"required": [n], "properties": {n: {"not": {"type": "null"}}}} for n in names]


def _not_both(a: str, b: str) -> JsonDict:
    """JSON schema: not both ``a`` and ``b`` given as strings."""
    return {"required": [a, b], "properties": {a: {"type": "string"}, b: {"type": "string"}}}


#: A conversation to route on holds a user message (``role`` defaults to user) not blank.
_A_USER_TURN: JsonDict = {
    "properties": {"content": {"pattern": NOT_BLANK}},
    "anyOf": [
        {"not": {"required": ["role"]}},
        {"required": ["role"], "properties": {"role": {"const": "user"}}},
    ],
}
#: What :func:`agent.tags.normalise_tags` checks, as a schema.
_TAG_NAME = NOT_BLANK.replace("\\x00", "\\x00=")  # and no "="
_TAGS_SCHEMA: JsonDict = {
    "maxProperties": MAX_TAGS,
    "propertyNames": {"maxLength": MAX_TAG_CHARS, "pattern": _TAG_NAME},
    "additionalProperties": {"type": "string", "maxLength": MAX_TAG_CHARS, "pattern": NO_NUL},
}


class Message(BaseModel):
    model_config = _STRICT
    role: Literal["system", "user", "assistant", "tool"] = "user"
    #: Its length is checked against ``max_message_chars`` (:func:`feedback.limits.check_messages`).
    content: SafeStr


def checked_tags(tags: dict[str, Any] | None) -> dict[str, Any] | None:
    """App tags as routing takes them, or ``ValueError`` with the reason (a 422)."""
    normalise_tags(tags)
    for value in (tags or {}).values():
        safe_text(value)  # a string by now; no NUL, no lone surrogate
    return tags


#: App context, e.g. ``{"task": "code", "tenant": "acme"}``: at most 8 string values.
Tags = Annotated[dict[SafeStr, Any] | None, AfterValidator(checked_tags)]


class RouteRequest(BaseModel):
    """Exactly one of ``prompt`` or ``messages`` (a chat with at least one user turn)."""

    model_config = ConfigDict(
        **_STRICT, json_schema_extra={"oneOf": _exactly_one("prompt", "messages")}
    )
    # the prompt's and the messages' sizes are the settings' (``max_message_chars``,
    # ``max_messages``): checked by :func:`feedback.limits.check_messages`, stated in the
    # schema by :mod:`feedback.openapi`
    prompt: PromptStr | None = None
    messages: list[Message] | None = Field(
        default=None, min_length=1, json_schema_extra={"contains": _A_USER_TURN}
    )
    conversation_id: SafeStr | None = Field(default=None, min_length=1, max_length=200)
    lam: float | None = Field(default=None, ge=0.0, le=1e6)
    budget: float | None = Field(default=None, gt=0.0, le=1e6)
    allowed: list[ModelRef] | None = Field(default=None, min_length=1, max_length=1000)
    tags: Tags = Field(default=None, json_schema_extra=_TAGS_SCHEMA)

    @model_validator(mode="before")
    @classmethod
    def _openai_shaped(cls, data: Any) -> Any:
        """An OpenAI Chat Completions body: its unused fields dropped, content parts as text."""
        return normalise_route_body(data)

    @model_validator(mode="after")
    def _one_input(self) -> Self:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' or 'messages'")
        if self.messages is not None and not any(m.role == "user" for m in self.messages):
            raise ValueError("'messages' needs at least one user message to route on")
        if self.messages is not None and not any(
            m.content.strip() for m in self.messages if m.role == "user"
        ):
            raise ValueError("'messages' needs a user message that is not blank to route on")
        return self


class RouteResponse(BaseModel):
    decision_id: str
    model: str
    scores: dict[str, float | None]
    token: str
    weights: list[float]
    propensity: float | None
    lam: float
    sticky: bool


class FeedbackRequest(BaseModel):
    """``decision_id`` and its ``token``, and exactly one of ``label``, ``score``, ``thumbs``."""

    model_config = ConfigDict(
        **_STRICT,
        json_schema_extra={
            "oneOf": _exactly_one("label", "score", "thumbs"),
            "not": _not_both("source", "user"),
        },
    )
    decision_id: SafeStr = Field(min_length=1, max_length=64)
    token: SafeStr | None = Field(default=None, max_length=128)
    label: Label | None = None
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    thumbs: Literal["up", "down"] | None = None
    source: SafeStr | None = Field(default=None, min_length=1, max_length=200)
    user: SafeStr | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_value(self) -> Self:
        given = [k for k in ("label", "score", "thumbs") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of label, score or thumbs (got {', '.join(given) or 'none'})"
            )
        if self.source is not None and self.user is not None:
            raise ValueError("give 'source' or 'user', not both")
        return self

    @property
    def origin(self) -> str | None:
        return self.source if self.source is not None else self.user


class FeedbackResponse(BaseModel):
    feedback_id: int
    decision_id: str
    model: str
    kind: str
    value: float
    weight: float
    duplicate: bool


class ModelInfo(BaseModel):
    name: str
    cost: float
    accuracy: float
    validation_rows: float


class ValidationRow(BaseModel):
    model_config = ConfigDict(
        **_STRICT, json_schema_extra={"oneOf": _exactly_one("prompt", "messages")}
    )
    prompt: PromptStr = Field(max_length=100_000)
    correct: float = Field(ge=0.0, le=1.0)
    cost: float | None = Field(default=None, ge=0.0, le=1e6)


class ModelCreate(BaseModel):
    model_config = _STRICT
    name: ModelNameStr = Field(min_length=1, max_length=200)
    cost: float = Field(ge=0.0, le=1e6)
    rows: list[ValidationRow] = Field(min_length=1, max_length=100_000)


class ModelPatch(BaseModel):
    model_config = _STRICT
    cost: float = Field(ge=0.0, le=1e6)


#: The largest λ an admin may set for every request: 100 already prices the most expensive
#: model out of any choice; more is a typo.
MAX_LAM = 100.0


class LamUpdate(BaseModel):
    model_config = _STRICT
    lam: float = Field(ge=0.0, le=MAX_LAM)


class BudgetUpdate(BaseModel):
    model_config = _STRICT
    budget: float | None = Field(default=None, gt=0.0, le=1e6)


class Health(BaseModel):
    status: Literal["ok"]
    models: int
    revision: int
    applied_feedback: int
    database: str


class PosteriorState(BaseModel):
    models: list[str]
    alpha: list[list[float]]
    beta: list[list[float]]
    alpha0: list[list[float]]
    beta0: list[list[float]]
    #: Pieces of feedback and labelled outcomes the policy has learnt (rows whose weight the
    #: caps took to 0, or whose model has left the pool, teach nothing and are not counted).
    learnt: int
    applied_feedback: int
    hwm: int
    revision: int
    lam: float


class AdminResult(BaseModel):
    ok: bool
    revision: int
    detail: str = ""


Outcome = Annotated[float, Field(ge=0.0, le=1.0)]


def _outcomes_schema(schema: JsonDict) -> None:
    """Every key names a model (not blank), every value is an outcome: ``propertyNames`` and
    ``additionalProperties`` say so (pydantic's ``patternProperties`` leaves a key that does
    not match it, say ``""``, unconstrained)."""
    patterns = schema.pop("patternProperties", None)
    if isinstance(patterns, dict) and patterns:
        schema["additionalProperties"] = next(iter(patterns.values()))
    schema["propertyNames"] = {"minLength": 1, "pattern": NOT_BLANK}


class LabelRequest(BaseModel):
    """Every model's outcome (0/1, or a score in [0, 1]) on one prompt: exactly one of
    ``prompt_key`` (from ``GET /admin/nominations`` on this replica) or the ``prompt`` text."""

    model_config = ConfigDict(
        **_STRICT, json_schema_extra={"oneOf": _exactly_one("prompt_key", "prompt")}
    )
    prompt_key: PromptKey | None = None
    prompt: PromptStr | None = Field(default=None, max_length=100_000)
    outcomes: dict[ModelRef, Outcome] = Field(
        min_length=1, max_length=1000, json_schema_extra=_outcomes_schema
    )
    tags: Tags = Field(default=None, json_schema_extra=_TAGS_SCHEMA)

    @model_validator(mode="after")
    def _one_input(self) -> Self:
        if (self.prompt is None) == (self.prompt_key is None):
            raise ValueError("give exactly one of 'prompt_key' or 'prompt'")
        return self


class NominationInfo(BaseModel):
    prompt_key: int
    text: str


class LabelResult(BaseModel):
    learnt: int
    revision: int

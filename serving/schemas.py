"""The HTTP contract's bodies (docs/architecture.md "HTTP"): pydantic models, so the OpenAPI
schema is exact.

Validation is strict about formats and ranges so that a 422 names the offending field, and
``extra="forbid"`` means no request can smuggle a model URI, a path or a backend choice in.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_BATCH = 1000
FIRST_YEAR, LAST_YEAR = 1990, 2099

RequestId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Client-chosen id (letters, digits, . _ : -); decides the variant, stickily.",
        examples=["req-0001"],
    ),
]


class FlightRequest(BaseModel):
    """One scheduled flight to score."""

    model_config = ConfigDict(extra="forbid")

    carrier: str = Field(
        pattern=r"^[A-Z0-9]{2}$", description="IATA carrier code.", examples=["UA"]
    )
    flight: int = Field(ge=1, le=9999, description="Flight number.", examples=[1545])
    tailnum: str | None = Field(
        default=None, pattern=r"^[A-Z0-9]{1,8}$", description="Tail number.", examples=["N14228"]
    )
    origin: str = Field(
        pattern=r"^[A-Z]{3}$", description="Origin airport (FAA).", examples=["EWR"]
    )
    dest: str = Field(pattern=r"^[A-Z]{3}$", description="Destination airport.", examples=["IAH"])
    scheduled_departure: AwareDatetime = Field(
        description="Scheduled departure, ISO 8601 with a UTC offset, years 1990-2099.",
        examples=["2013-06-01T09:15:00-04:00"],
        json_schema_extra={"pattern": r"^(199[0-9]|20[0-9]{2})-"},
    )
    distance: float = Field(
        gt=0, le=12_000, allow_inf_nan=False, description="Distance in miles.", examples=[1400]
    )
    request_id: RequestId | None = None

    @field_validator("scheduled_departure")
    @classmethod
    def _plausible_departure(cls, value: dt.datetime) -> dt.datetime:
        if not FIRST_YEAR <= value.year <= LAST_YEAR:  # the year as written, like the schema
            raise ValueError(f"year must be between {FIRST_YEAR} and {LAST_YEAR}")
        return value

    def departure_utc(self) -> dt.datetime:
        """Naive UTC, the convention of the feature store and the warehouse."""
        return self.scheduled_departure.astimezone(dt.UTC).replace(tzinfo=None)


class BatchRequest(BaseModel):
    """Up to 1,000 flights scored in one call."""

    model_config = ConfigDict(extra="forbid")

    flights: list[FlightRequest] = Field(min_length=1, max_length=MAX_BATCH)


class Prediction(BaseModel):
    """The answer for one flight: the probability, the decision and what produced them."""

    request_id: str
    delay_probability: float = Field(ge=0.0, le=1.0)
    delayed: bool
    model_name: str
    model_version: str | None = Field(description="None only when no model was ever available.")
    variant: Literal["champion", "challenger", "fallback"]
    missing_features: list[str] = Field(description="Features imputed (stale, absent, store down).")
    rule: str = Field(description="The business rule that decided `delayed`.")
    threshold: float = Field(ge=0.0, le=1.0)
    fallbacks: list[str] = Field(description="Fallback reasons on this answer's path, if any.")


class Contribution(BaseModel):
    feature: str
    value: str | float | None = Field(description="The value the model received (None: missing).")
    contribution: float = Field(description="Its Shapley value, in log-odds.")


class Explanation(BaseModel):
    """The top contributions of one answer; with ``others`` and ``bias`` they sum to the margin."""

    bias: float = Field(description="The model's expected margin (log-odds) over training.")
    others: float = Field(description="The sum of the contributions not listed.")
    contributions: list[Contribution] = Field(description="The largest by magnitude, first.")


class ExplainedPrediction(Prediction):
    """An answer with its explanation (``explain=true``); None when the baseline answered."""

    explanation: Explanation | None


class BatchResponse(BaseModel):
    predictions: list[Prediction]


class FeedbackRequest(BaseModel):
    """The outcome of a predicted flight: its arrival delay, or that it was cancelled."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # the "exactly one outcome" rule, stated in the schema too
            "oneOf": [
                {"required": ["arr_delay"], "properties": {"arr_delay": {"type": "number"}}},
                {"required": ["cancelled"], "properties": {"cancelled": {"const": True}}},
            ]
        },
    )

    request_id: RequestId
    arr_delay: float | None = Field(
        default=None, ge=-1440, le=2880, allow_inf_nan=False, description="Minutes."
    )
    cancelled: bool = False

    @model_validator(mode="after")
    def _one_outcome(self) -> FeedbackRequest:
        if self.cancelled == (self.arr_delay is not None):
            raise ValueError("give exactly one of arr_delay or cancelled=true")
        return self


class FeedbackResponse(BaseModel):
    request_id: str
    accepted: bool


class Health(BaseModel):
    status: Literal["ok"]
    model_version: str | None


class Readiness(BaseModel):
    ready: bool
    model: bool
    online_store: bool
    reasons: list[str]


class ServedVersion(BaseModel):
    variant: Literal["champion", "challenger", "fallback"]
    version: str | None
    share: float = Field(ge=0.0, le=1.0)
    threshold: float | None = None


class ModelInfo(BaseModel):
    model_name: str
    versions: list[ServedVersion]
    previous_champion: str | None
    registry_reachable: bool | None
    last_error: str | None


class ReloadResponse(BaseModel):
    ok: bool
    changed: bool
    champion: str | None
    challenger: str | None
    errors: list[str]


class Detail(BaseModel):
    detail: str

"""The demo's story as a timeline: a credit-scoring model deployed on the 1st, its applicants'
behaviour changing on the 7th, its skill falling until the 21st, labels two days late.

The change is in two parts. On the 7th the applicants move (`credit_data`'s `inputs`): many
are borderline, scored near the middle, so the model is less sure and its ROC AUC falls from
0.75 to about 0.69 at once — a covariate shift, which the performance estimated from the
scores (CBPE) sees within hours, two days before the labels confirm it. Then the downturn's
hidden driver grows until the 21st (`skill_loss`, a concept shift the scores cannot show):
ROC AUC about 0.63, seen only through the labels.

Time here is simulated: the story is replayed hour by hour with back-dated timestamps, and
every figure of the demo (when the change began, when vigil noticed) is in story time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.demo.data import ID, TARGET, credit_data

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# The model's score cannot see the downturn's driver: it is half as strong on the day the
# behaviour changes and at full strength (ROC AUC about 0.68) two weeks later.
SKILL_LOSS_AT_CHANGE = 0.5
WORST_AFTER_DAYS = 14


@dataclass(frozen=True, slots=True)
class Hour:
    """One simulated hour of traffic: every application with its outcome (`rows`), what the
    prediction service logs (`predictions`) and what arrives later (`labels`)."""

    index: int
    start: datetime
    rows: pa.Table

    @property
    def end(self) -> datetime:
        return self.start + HOUR

    @property
    def predictions(self) -> pa.Table:
        """The flat columns of the ingest API: the id, the time, the latency, the inputs, the
        decision and the score; the outcome is not known yet."""
        table = self.rows.drop_columns([TARGET])
        table = table.rename_columns(["id" if n == ID else n for n in table.column_names])
        return table.append_column("latency_ms", _latency(self.rows.num_rows, self.index))

    @property
    def labels(self) -> pa.Table:
        """`{id, label, timestamp}`: back-dated to the prediction, so it lands on its window."""
        return pa.table(
            {
                "id": self.rows[ID],
                "label": pc.cast(self.rows[TARGET], pa.string()),
                "timestamp": self.rows["timestamp"],
            }
        )


@dataclass(frozen=True, slots=True)
class Story:
    """When things happen. `change_day` is a day of the month (the 7th: Jan 7), so the
    unchanged days are `change_day - 1`; labels arrive `label_delay` after their prediction."""

    start: datetime
    days: int = 30
    change_day: int = 7
    rows_per_hour: int = 400
    label_delay: timedelta = 2 * DAY
    reference_rows: int = 20_000
    seed: int = 7

    def __post_init__(self) -> None:
        if not 2 <= self.days <= 366 or not 2 <= self.change_day <= self.days:
            raise ValueError(
                f"the story needs at least 2 days (at most a year: 366) and a change on day 2 "
                f"to {self.days}; got {self.days} days and a change on day {self.change_day}."
            )
        if self.rows_per_hour < 150:
            raise ValueError(
                f"rows_per_hour must be at least 150 (an hour's window is judged from 100 rows "
                f"and its labels); got {self.rows_per_hour}."
            )

    @property
    def change_at(self) -> datetime:
        return self.start + (self.change_day - 1) * DAY

    @property
    def end(self) -> datetime:
        return self.start + self.days * DAY

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def worst_at(self) -> datetime:
        """When the model's skill has fallen furthest: two weeks after the change (the 21st),
        or the story's end if that comes first."""
        return min(self.change_at + WORST_AFTER_DAYS * DAY, self.end)

    def skill_loss(self, moment: datetime) -> float:
        """0 before the change, then from `SKILL_LOSS_AT_CHANGE` rising to 1 at `worst_at`."""
        if moment < self.change_at:
            return 0.0
        span = (self.worst_at - self.change_at) / HOUR
        done = 1.0 if span <= 0 else min(1.0, (moment - self.change_at) / HOUR / span)
        return SKILL_LOSS_AT_CHANGE + (1.0 - SKILL_LOSS_AT_CHANGE) * done

    def reference(self) -> pa.Table:
        """The period the model was validated on, with its outcomes."""
        return credit_data(self.reference_rows, seed=[self.seed, 0], id_prefix="R")

    def hour(self, index: int) -> Hour:
        """The traffic of hour `index` (0: the first hour of the 1st), seeded by the hour, so a
        replay gives the same rows whatever it asked for before."""
        start = self.start + index * HOUR
        rng = np.random.default_rng([self.seed, 1, index])
        n = int(rng.integers(self.rows_per_hour * 8 // 10, self.rows_per_hour * 12 // 10 + 1))
        changed = start >= self.change_at
        rows = credit_data(
            n,
            seed=[self.seed, 2, index],
            inputs=1.0 if changed else 0.0,
            skill_loss=self.skill_loss(start),
            id_prefix=f"{start:%m%dT%H}-",
        )
        seconds = np.sort(rng.integers(0, 3600, n))
        times = pa.array(
            [start + timedelta(seconds=int(s)) for s in seconds], pa.timestamp("us", tz="UTC")
        )
        return Hour(index, start, rows.append_column("timestamp", times))

    def labels_due(self, index: int) -> int | None:
        """The hour whose labels arrive during hour `index`, or None before the first do."""
        late = index - round(self.label_delay / HOUR)
        return late if late >= 0 else None


def _latency(n: int, index: int) -> pa.Array:
    """Serving latency in ms: a few milliseconds, with a long tail."""
    rng = np.random.default_rng([index, 3])
    return pa.array(4.0 + rng.gamma(2.0, 3.0, n))

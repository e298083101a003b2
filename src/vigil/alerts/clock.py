"""Figures on the scheduler's clock: how long since a model last received predictions and
labels, and how many rows its last closed window held against the windows before it.

Freshness and volume rules must fire when *nothing* arrives, so these figures cannot wait for
a window computation (which only runs when rows or labels come): the alert engine calls
`clock_points` on every scheduler tick and judges the points with the rules, as any other.
The points are dated "now": the model's current version, a tumbling window starting at the
start of the current window, ending now.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from vigil.store.base import MetricPoint, ModelInfo, Store

EPOCH = datetime(1970, 1, 1)  # windows are aligned on it, as the store aligns them


def window_start(moment: datetime, size_seconds: int) -> datetime:
    """The start of the window of `size_seconds` that holds `moment` (naive UTC)."""
    step = timedelta(seconds=size_seconds)
    return EPOCH + ((moment - EPOCH) // step) * step


def clock_points(
    store: Store, model: ModelInfo, *, now: datetime, size_seconds: int, history: int
) -> list[MetricPoint]:
    """The freshness and volume figures of `model` at `now` (docs/alerts.md):

    - `freshness.prediction_age_s`: seconds since the newest prediction was received (None
      when none ever was);
    - `freshness.label_age_s`: the same for labels (None for a model without labels, or none
      yet);
    - `volume.last_window_rows`: prediction rows, every version, of the last closed window
      (the one before the current), 0 when it had none — None when that window ended before
      the model was registered and holds nothing;
    - `volume.last_window_ratio`: that count over the mean count of the `history` closed
      windows before it, empty ones counted as 0. Windows before the one the model was
      registered in are left out of the mean (a new model's first day is not compared with
      the empty days before it); with none left, or a mean of 0, the ratio is None.
    """
    if size_seconds <= 0:
        raise ValueError(f"a window is at least a second long; got {size_seconds} seconds.")
    if history < 0:
        raise ValueError(f"history counts earlier windows, 0 or more; got {history}.")
    now = _naive_utc(now)
    step = timedelta(seconds=size_seconds)
    current = window_start(now, size_seconds)
    last = current - step
    first = current - (history + 1) * step
    predicted, labelled = store.received_times(model)
    counts = store.window_row_counts(model, first, current, size_seconds)
    # windows before the one the model was registered in say nothing of its volume (rows
    # sent back-dated into them still count where they are)
    born = window_start(_naive_utc(model.created), size_seconds)
    rows: float | None = float(counts.get(last, 0))
    if last < born and not rows:
        rows = None
    before = [last - i * step for i in range(1, history + 1)]
    counted = [counts.get(start, 0) for start in before if start >= born]
    mean = sum(counted) / len(counted) if counted else 0.0
    ratio = rows / mean if rows is not None and mean > 0 else None
    figures = {
        "freshness.prediction_age_s": _age(now, predicted),
        "freshness.label_age_s": _age(now, labelled),
        "volume.last_window_rows": rows,
        "volume.last_window_ratio": ratio,
    }
    version = model.current_version
    return [
        MetricPoint(version, "tumbling", "", current, now, metric, "", value, "none")
        for metric, value in figures.items()
    ]


def _age(now: datetime, received: datetime | None) -> float | None:
    """Seconds from `received` to `now`; 0 for a time after `now` (another instance's clock
    a little ahead)."""
    if received is None:
        return None
    return max(0.0, (now - _naive_utc(received)).total_seconds())


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)

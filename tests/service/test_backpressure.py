"""A client faster than the store: the service answers 503 with Retry-After instead of
queueing without bound, and loses nothing it acknowledged."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.service.conftest import Live, ThreadServer, make_settings, records

from vigil.config import Limits
from vigil.service.app import create_app


@pytest.fixture
def small_queue(tmp_path: Path) -> Iterator[Live]:
    settings = make_settings(tmp_path, limits=Limits(max_pending_records=500, retry_after=2))
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield Live(url, client, Path(settings.db), app)


def test_a_stalled_store_gets_503_with_retry_after_and_keeps_what_it_acknowledged(
    small_queue: Live,
) -> None:
    small_queue.setup_model()
    state = small_queue.app.state.vigil
    store_lock = state.store._db._write_lock  # hold the store's writes, as a slow disk would
    answers: list[httpx.Response] = []
    sent: list[list[str]] = []
    unanswered: list[str] = []

    def post(i: int) -> None:
        batch = records(200, prefix=f"p{i}-")
        try:
            with httpx.Client(base_url=small_queue.url, timeout=60) as c:
                r = c.post("/v1/models/credit/predictions", json={"records": batch})
        except httpx.HTTPError as err:  # not acknowledged, so nothing is owed; keep the reason
            unanswered.append(repr(err))
            return
        answers.append(r)
        if r.status_code == 200:
            sent.append([x["id"] for x in batch])

    with store_lock:
        threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for _ in range(1200):  # until the refused requests have their answers (60 s at most)
            if sum(a.status_code == 503 for a in answers) >= 5:
                break
            threading.Event().wait(0.05)
        refused = [a for a in answers if a.status_code == 503]
        assert len(refused) >= 5, [a.status_code for a in answers]
        assert all(a.headers["retry-after"] == "2" for a in refused)
        assert "busy" in refused[0].json()["error"]["message"]
        assert state.writer.pending <= 500 + 200
    for t in threads:
        t.join(60)
    # counted again: a request refused after the count above (the lock held) is refused too
    refused = [a for a in answers if a.status_code == 503]
    ok = [a for a in answers if a.status_code == 200]
    statuses = [(a.status_code, a.text[:200]) for a in answers]
    assert len(ok) + len(refused) + len(unanswered) == 8 and ok, (statuses, unanswered)
    assert len(unanswered) <= 1, unanswered
    small_queue.client.post("/v1/models/credit/evaluate")
    counted = small_queue.client.get(
        "/v1/models/credit/metrics", params={"metric": "ops.count", "kind": "tumbling"}
    ).json()["points"]
    assert counted[0]["value"] == sum(len(ids) for ids in sent)
    scraped = small_queue.client.get("/metrics").text
    assert 'vigil_requests_refused_total{reason="overloaded",status="503"}' in scraped


def test_a_batch_larger_than_the_queue_gets_413_at_once_not_503_forever(
    small_queue: Live,
) -> None:
    """Failed before: a batch over max_pending_records got in only when the queue was empty,
    and got 503 + Retry-After every time it was not; the client could never know."""
    small_queue.setup_model()
    r = small_queue.client.post(
        "/v1/models/credit/predictions", json={"records": records(501, prefix="big-")}
    )
    assert r.status_code == 413, r.text
    message = r.json()["error"]["message"]
    assert "501 records" in message and "500" in message and "max_pending_records" in message
    r = small_queue.client.post(
        "/v1/models/credit/predictions", json={"records": records(500, prefix="fits-")}
    )
    assert r.status_code == 200 and r.json()["accepted"] == 500, r.text

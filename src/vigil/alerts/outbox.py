"""The outbox: notices stored with the alerts that made them, sent by a thread of their own.

The engine stores each notice as a `Delivery` (one per route) in the transaction that stores
the alerts, so nothing is told before it is kept and nothing kept is lost by a restart. This
worker claims due deliveries with a lease (two `vigil serve` processes on one PostgreSQL never
send one twice at once), sends each through its route's notifier, and records the outcome: sent,
or the failure's reason and the next attempt (backing off: `Retry`), or given up once the
notice is `give_up_after` old. Delivery is at least once: a process killed between sending and
recording sends again, with the same dedup key (`AlertView.dedup_key`) for the receiver. A
failing receiver delays only its own deliveries; monitoring goes on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from vigil.alerts.notice import notice_from_json
from vigil.alerts.notify import DeliveryError
from vigil.alerts.settings import AlertSettings
from vigil.store.base import Delivery, Store, utcnow

log = logging.getLogger("vigil.alerts")
CLAIM = 8  # deliveries claimed at once; each send has its notifier's timeout (10 s by default)


class Outbox:
    """Sends the stored notices; `run_once` for one pass, `start` for a thread."""

    def __init__(
        self,
        store: Store,
        settings: AlertSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        poll: float = 5.0,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.poll = poll  # seconds between looks at the outbox when not woken
        self.routes = {r.notifier.name: r for r in settings.routes}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:outbox:{id(self):x}"
        # a claim is held while its deliveries are sent, one after another
        timeouts = [float(getattr(r.notifier, "timeout", 10.0)) for r in settings.routes]
        self.lease = CLAIM * max(timeouts, default=10.0) + 30.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-outbox", daemon=True)
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        """Look at the outbox now (the engine stored notices)."""
        self._wake.set()

    def start(self) -> None:
        """Send on a thread of its own until `stop` (with no notifier configured, it only
        gives up what an earlier config left in the outbox)."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
            except Exception:  # the store may be down for a while: try again at the next poll
                log.exception("the outbox could not be read")
            self._wake.wait(self.poll)
            self._wake.clear()

    def run_once(self) -> int:
        """Claim and send the deliveries due now; how many were tried."""
        now = self.clock()
        due = self.store.claim_deliveries(now, self.owner, lease_seconds=self.lease, limit=CLAIM)
        for delivery in due:
            self._send(delivery)
        return len(due)

    def _send(self, delivery: Delivery) -> None:
        route = self.routes.get(delivery.destination)
        error: str | None
        if route is None:
            error = f"the notifier {delivery.destination!r} is no longer in alerts.notify; given up"
            self._finish(delivery, None, error, give_up=True)
            return
        try:
            route.notifier.send(notice_from_json(delivery.body))
        except DeliveryError as err:
            error = str(err)
        except Exception as err:  # a bug in a notifier must not stop the outbox; say what
            error = f"{delivery.destination}: {type(err).__name__}"
            log.exception("notifier %s raised", delivery.destination)
        else:
            self._finish(delivery, self.clock(), None)
            self.sent += 1
            return
        self.failed += 1
        self._finish(delivery, None, error)

    def _finish(
        self,
        delivery: Delivery,
        sent_at: datetime | None,
        error: str | None,
        *,
        give_up: bool = False,
    ) -> None:
        now = self.clock()
        next_at = None
        if error is not None and not give_up:
            attempts = delivery.attempts + 1
            retry = self.settings.retry
            next_at = now + timedelta(seconds=retry.delay(attempts))
            if next_at - delivery.created > timedelta(seconds=retry.give_up_after):
                next_at = None
                error += f" (attempt {attempts}; given up: the notice is older than give_up_after)"
            else:
                error += f" (attempt {attempts}; next at {next_at:%Y-%m-%dT%H:%M:%S}Z)"
            log.warning("notice to %s not delivered: %s", delivery.destination, error)
        self.store.finish_delivery(
            delivery.id, self.owner, sent_at=sent_at, error=error, next_at=next_at
        )

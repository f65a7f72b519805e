"""kombu's Redis transport with one fix: a worker survives losing Redis with a task in flight.

kombu 5.7's `Channel.close()` first deletes the channel's auto-delete fanout bindings (the
remote-control queue every worker has) on the server. When Redis is down at that moment the
delete raises half-way through `close()`, and Celery, cleaning up after the lost connection,
closes the channel a second time after detaching the transport; that second attempt, with
unacknowledged messages to restore, dies with `AttributeError: 'NoneType' object has no
attribute 'hostname'`, which Celery reports as "Unrecoverable error" and the worker exits.
A Redis restart with any task running thus killed the worker (tests/chaos shows it).

The fix: when the server cannot be reached, give up those bindings (they name a queue nobody
will read again, and kombu expires stale bindings) and let the rest of `close()` run, so the
channel ends up closed and the second attempt does nothing. Selected by `broker_transport`
in `make_celery`; everything else is kombu's own transport.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def close(self) -> None:
        client: Any = self.__dict__.get("client")  # only if kombu created one
        if not self.closed and client is not None:
            for queue in list(self._fanout_queues):  # type: ignore[attr-defined]
                if queue not in self.auto_delete_queues:
                    continue
                try:
                    self.queue_delete(queue, client=client)
                except self.connection.connection_errors:
                    self.auto_delete_queues.discard(queue)
        super().close()


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"

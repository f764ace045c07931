"""Events registration consumes: the pairs matching proposes."""

from __future__ import annotations

from services.registration import store
from shared import topics
from shared.consumer import EventConsumer
from shared.db import Conn
from shared.events import Envelope, Pairing

SUBSCRIBES_TO = (topics.MATCHING,)


def register(consumer: EventConsumer) -> None:
    @consumer.on("matching.pairs_proposed", "matching.pairs_published")
    async def pairs_proposed(conn: Conn, event: Envelope) -> None:
        proposal = Pairing.model_validate(event.data)
        await store.save_seating(
            conn, proposal.meeting_id, proposal.tenant_id, proposal.version, proposal.model_dump(mode="json")
        )

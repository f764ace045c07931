"""Write each service's AsyncAPI document to docs/asyncapi/<service>.json: ``python -m deploy.asyncapi``.

The documents describe what each service consumes; the payloads are in ``shared/events.py``.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from faststream import FastStream
from faststream.specification import AsyncAPI

from shared.events import EVENT_TYPES, Envelope
from shared.registry import SERVICES
from shared.service import Runtime, ServiceSpec

OUT = Path(__file__).resolve().parent.parent / "docs" / "asyncapi"


def document(name: str) -> str:
    spec: ServiceSpec = importlib.import_module(f"services.{name}.app").SPEC
    runtime = Runtime(spec, spec.settings_class(kafka_bootstrap="kafka:9092", consumer_group_prefix="fmf"))
    app = FastStream(
        runtime.broker,
        specification=AsyncAPI(title=f"Folk møter folk — {name}", version="1.0.0", description=spec.description),
    )
    return json.dumps(app.schema.to_specification().to_jsonable(), indent=2, ensure_ascii=False) + "\n"


def event_catalogue() -> str:
    """The envelope and every event type's payload schema, with the topic it travels on."""
    catalogue = {
        "envelope": Envelope.model_json_schema(),
        "events": {
            event_type: {"topic": topic, "version": 1, "data": model.model_json_schema()}
            for event_type, (topic, model) in sorted(EVENT_TYPES.items())
        },
    }
    return json.dumps(catalogue, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "events.json").write_text(event_catalogue(), encoding="utf-8")
    for name in SERVICES:
        (OUT / f"{name}.json").write_text(document(name), encoding="utf-8")
        print(f"wrote {OUT / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

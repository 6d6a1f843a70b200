"""Cloud Functions (gen2) entry point: ingest. Thin by design; the logic is tickcast.ingest."""

import functions_framework
from cloudevents.http import CloudEvent

from tickcast.ingest.stage import handle
from tickcast.stage import run


@functions_framework.cloud_event
def ingest(event: CloudEvent) -> None:
    run("ingest", event.data, handle)

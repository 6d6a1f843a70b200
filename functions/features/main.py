"""Cloud Functions (gen2) entry point: features. Thin by design; the logic is tickcast.features."""

import functions_framework
from cloudevents.http import CloudEvent

from tickcast.features.stage import handle
from tickcast.stage import run


@functions_framework.cloud_event
def features(event: CloudEvent) -> None:
    run("features", event.data, handle)

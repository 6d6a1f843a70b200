"""Cloud Functions (gen2) entry point: predict. Thin by design; the logic is tickcast.predict."""

import functions_framework
from cloudevents.http import CloudEvent

from tickcast.predict.stage import handle
from tickcast.stage import run


@functions_framework.cloud_event
def predict(event: CloudEvent) -> None:
    run("predict", event.data, handle)

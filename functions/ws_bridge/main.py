"""Cloud Run entry point for ws_bridge: the ASGI `app`. The logic is tickcast.bridge.

The container runs `python -m tickcast.bridge.serve` (WebSocket settings from
the environment); `uvicorn main:app` serves the same app for local runs.
"""

from tickcast.bridge.app import create_app

app = create_app()

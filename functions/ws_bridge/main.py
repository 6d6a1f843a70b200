"""Cloud Run entry point for ws_bridge: `uvicorn main:app`. The logic is tickcast.bridge."""

from tickcast.bridge.app import create_app

app = create_app()

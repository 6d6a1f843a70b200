"""ws_bridge: Firestore document changes streamed to WebSocket clients."""

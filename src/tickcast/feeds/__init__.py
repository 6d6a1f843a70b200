"""Feed connectors: `tickcast feed alpaca|polygon|yahoo` (see docs/FEEDS.md).

One long-running process per feed holds the vendor's WebSocket and publishes
every frame it receives, unchanged, to tickcast-raw with the `format` attribute
and an ordering key per symbol shard. Vendor protocol handling lives in one
sans-I/O module per vendor (alpaca.py, polygon.py, yahoo.py); connector.py owns
the socket, the bounded queue, reconnects and shutdown; publisher.py retries
publishes; health.py serves /healthz, /readyz and /metrics.
"""

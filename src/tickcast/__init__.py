"""tickcast: real-time market indicators and predictions on Google Cloud."""

__version__ = "0.1.0"

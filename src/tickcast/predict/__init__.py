"""Predict: feature vectors in, predictions, alerts and scores out."""

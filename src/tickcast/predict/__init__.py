"""Predict: feature vectors in, predictions, alerts and scores out.

The model interface lives in `tickcast.predict.model`: a `Model` maps the
feature vector of a closed bar to a `Prediction` (p_up, direction with a flat
band, confidence, expected_return, signed factors). docs/MODEL.md explains the
models, artifacts, training, evaluation and the Firestore documents.
"""

from tickcast.predict.model import FLAT_BAND, Logit, Model, direction_of, to_prediction

__all__ = ["FLAT_BAND", "Logit", "Model", "direction_of", "to_prediction"]

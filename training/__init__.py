"""Arabic news topic classifier: training, evaluation and the model artefact interface."""
from .artifact import Classifier, Prediction, load

__all__ = ["Classifier", "Prediction", "load"]
__version__ = "0.1.0"

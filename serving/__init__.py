"""HTTP serving of the Arabic news topic classifier with BentoML (``bentoml serve serving.service:ArabicNewsTopics``).

Importing this package is cheap; ``serving.service`` resolves the model in the store at import.
"""

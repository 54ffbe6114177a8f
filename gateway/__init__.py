"""Hand-written runtime of the OpenAI-compatible gateway (never generated)."""

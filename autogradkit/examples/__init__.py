"""Runnable examples: the source article's training example (``article``)."""

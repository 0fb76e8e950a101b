"""Models: the author-facing API (``api``), the runner that paces them, and the built-ins."""

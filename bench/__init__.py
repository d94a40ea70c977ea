"""Load benchmark of the bot against the guide-based baseline: ``python -m bench`` (see docs/performance.md)."""

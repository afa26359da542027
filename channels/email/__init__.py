"""Email channel."""

"""clearland: information management for mine action."""

__version__ = "0.1.0"

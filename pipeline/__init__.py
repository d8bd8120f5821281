"""Case Maker Press: one timeline, four editions."""

__version__ = "0.1.0"

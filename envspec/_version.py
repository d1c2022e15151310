"""The version of aienv (package ``envspec``); the one place it is written."""

__version__ = "0.1.0"

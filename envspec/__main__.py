"""``python -m envspec`` runs the ``aienv`` command line."""

from .cli import entrypoint

if __name__ == "__main__":
    entrypoint()

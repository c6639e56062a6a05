"""The ``marlbench`` command line: one module per command group over :mod:`marlbench.api`.

``app`` is re-exported here for the console script (``marlbench.cli:app``) and for tests.
"""

from marlbench.cli.app import app

__all__ = ["app"]

"""The ``oncall`` command line: ``main`` (global options, errors, the console launcher) and one module per
area of subcommands (``registry`` lists them).

Importing the package defers :mod:`inspect` until something needs more of it than ``cleandoc``
(console/cli/deferred.py; issue 17): click imports it at its top, a command that reads or acts never uses
it.
"""

from console.cli.deferred import cleandoc, defer_import

defer_import("inspect", {"cleandoc": cleandoc})

"""The ``oncall`` command line: ``main`` (global options, errors, the console launcher) and one module per
area of subcommands (``registry`` lists them)."""

"""The command line: ``entry`` (the console script), ``commands``, ``options`` and ``errors``.

Nothing is imported here, so that ``etl.cli.entry`` installs its signal handlers before the commands
and everything they need are loaded.
"""

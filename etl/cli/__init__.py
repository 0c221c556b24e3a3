from etl.cli.commands import main

__all__ = ["main"]

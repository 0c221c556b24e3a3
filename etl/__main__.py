"""`python -m etl` is `classify-etl`."""

from etl.cli.entry import run

run()

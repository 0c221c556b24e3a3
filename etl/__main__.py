"""`python -m etl` is `classify-etl`."""

from etl.entry import run

run()

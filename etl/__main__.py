"""`python -m etl` is `classify-etl`."""

from etl.cli import main

main()

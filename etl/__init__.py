"""classify-etl: keep a SQL copy of LlamaCloud classify jobs."""

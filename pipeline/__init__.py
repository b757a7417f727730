"""stockpipe: stock-price CSV -> Kafka -> Parquet lake -> catalog -> SQL."""

__version__ = "0.1.0"

"""Local services for the embedded default: the Kafka-protocol broker and the local lake."""

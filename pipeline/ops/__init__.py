"""Operating the pipeline: `stockpipe status` (from Kafka, the lake, the catalog and the status files),
`status --hosts` (the same from the hosts' side, over SSH) and `stockpipe topics` (list, describe, peek).

Read-only: nothing here joins a consumer group, commits, writes to the lake or changes a host.
"""

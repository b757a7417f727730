"""`stockpipe canary`: the end-to-end smoke check a deploy runs (site.yml), in two halves.

- `send_canary(settings)` (the operator's machine, through the brokers' external listeners):
  produces one canary record, encoded exactly as the producer encodes a bar, waits for its acks=all
  delivery report and reads it back from its partition and offset (assigned, no consumer group).
- `find_canary(settings, ...)` (a pipeline host, with its config): polls until a deadline, crawling
  the lake into the catalog and counting the canary by SQL on its partition, the way a user's query
  would see it. On timeout it says which stage has not got it: the sink (nothing in the lake) or
  the catalog (in the lake, not visible to SQL).

The canary is an ordinary bar of the symbol `CANARY_SYMBOL` dated today (UTC), with a per-run
nonce as its volume: it lands in the lake like any row and can be told apart from every other run.
"""

from __future__ import annotations

from pipeline.canary.find import CanaryNotFound, FindResult, canary_sql, find_canary
from pipeline.canary.record import CANARY_SOURCE, CANARY_SYMBOL, canary_bar, new_nonce
from pipeline.canary.send import SendResult, send_canary

__all__ = [
    "CANARY_SOURCE",
    "CANARY_SYMBOL",
    "CanaryNotFound",
    "FindResult",
    "SendResult",
    "canary_bar",
    "canary_sql",
    "find_canary",
    "new_nonce",
    "send_canary",
]

"""A small real HTTP server speaking the Athena JSON 1.1 protocol, with scripted answers.

moto's Athena answers every query with an empty success, so it cannot show polling, paging or
failures. This server can: each query string is matched to a script that gives the states
GetQueryExecution walks through (one step per poll) and the rows GetQueryResults pages through
(header row first, `page_size` rows per page, NextToken between pages). It records every call.
boto3 talks to it with endpoint_url and dummy credentials; signatures are not checked.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    match: str  # a substring of the query string
    states: list[str] = field(default_factory=lambda: ["QUEUED", "RUNNING", "SUCCEEDED"])
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, Athena type)
    rows: list[list[str | None]] = field(default_factory=list)  # cells as text, None for NULL
    reason: str | None = None  # StateChangeReason for FAILED/CANCELLED
    page_size: int = 1000
    statement_type: str = "DML"


@dataclass
class _Execution:
    id: str
    query: str
    request: dict[str, Any]
    script: Script
    polls: int = 0
    cancelled: bool = False

    @property
    def state(self) -> str:
        if self.cancelled:
            return "CANCELLED"
        return self.script.states[min(self.polls, len(self.script.states)) - 1] if self.polls else "QUEUED"


class AthenaError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FakeAthena:
    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.executions: dict[str, _Execution] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def script(self, match: str, **kwargs: Any) -> Script:
        """Answer queries containing `match` as described (the newest matching script wins)."""
        script = Script(match, **kwargs)
        with self._lock:
            self.scripts.insert(0, script)
        return script

    def calls_to(self, operation: str) -> list[dict[str, Any]]:
        return [body for op, body in self.calls if op == operation]

    def start(self) -> FakeAthena:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- operations -------------------------------------------------------------------------------
    def _execution(self, body: dict[str, Any]) -> _Execution:
        execution = self.executions.get(body.get("QueryExecutionId", ""))
        if execution is None:
            missing = body.get("QueryExecutionId")
            raise AthenaError("InvalidRequestException", f"QueryExecution {missing} not found")
        return execution

    def StartQueryExecution(self, body: dict[str, Any]) -> dict[str, Any]:
        query = body["QueryString"]
        script = next((s for s in self.scripts if s.match in query), None)
        if script is None:
            raise AthenaError("InvalidRequestException", f"no scripted answer for query: {query[:80]}")
        query_id = f"q-{next(self._ids):04d}"
        self.executions[query_id] = _Execution(query_id, query, body, script)
        return {"QueryExecutionId": query_id}

    def GetQueryExecution(self, body: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(body)
        if not execution.cancelled:
            execution.polls += 1
        status: dict[str, Any] = {"State": execution.state, "SubmissionDateTime": 1_700_000_000.0}
        if execution.state in {"FAILED", "CANCELLED"} and execution.script.reason:
            status["StateChangeReason"] = execution.script.reason
        return {
            "QueryExecution": {
                "QueryExecutionId": execution.id,
                "Query": execution.query,
                "StatementType": execution.script.statement_type,
                "Status": status,
                "QueryExecutionContext": execution.request.get("QueryExecutionContext", {}),
                "WorkGroup": execution.request.get("WorkGroup", "primary"),
            }
        }

    def StopQueryExecution(self, body: dict[str, Any]) -> dict[str, Any]:
        self._execution(body).cancelled = True
        return {}

    def GetQueryResults(self, body: dict[str, Any]) -> dict[str, Any]:
        execution = self._execution(body)
        if execution.state != "SUCCEEDED":
            raise AthenaError(
                "InvalidRequestException", f"Query has not yet finished. Current state: {execution.state}"
            )
        script = execution.script
        header = [[name for name, _ in script.columns]] if script.statement_type == "DML" else []
        all_rows = header + script.rows
        offset = int(body.get("NextToken") or 0)
        size = min(int(body.get("MaxResults", 1000)), script.page_size)
        page = all_rows[offset : offset + size]
        out: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {
                "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in page],
                "ResultSetMetadata": {
                    "ColumnInfo": [
                        {"Name": name, "Label": name, "Type": type_, "Nullable": "UNKNOWN"}
                        for name, type_ in script.columns
                    ]
                },
            },
        }
        if offset + size < len(all_rows):
            out["NextToken"] = str(offset + size)
        return out

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                target = self.headers.get("X-Amz-Target", "")
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                service, _, operation = target.partition(".")
                with fake._lock:
                    fake.calls.append((operation, body))
                    try:
                        known = operation[:1].isupper() and hasattr(fake, operation)
                        if service != "AmazonAthena" or not known:
                            raise AthenaError("UnknownOperationException", f"unknown target {target}")
                        status, answer = 200, getattr(fake, operation)(body)
                    except AthenaError as exc:
                        status, answer = 400, {"__type": exc.code, "message": str(exc)}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", "fake-request")
                self.end_headers()
                self.wfile.write(data)

        return Handler

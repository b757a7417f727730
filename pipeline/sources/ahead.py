"""The replay's batches computed in a process of their own, ahead of the send loop.

`SourceSet.batches()` (reading, checking, merging, encoding: ~1.7 us a record) and the send loop (one
client call and one delivery report a record) each need a CPU, and in one process they take turns
on one core: the send loop holds the GIL, so a thread computing batches ahead gets it only between
the loop's switch intervals and gains nothing. `ReadAhead` runs `SourceSet.batches()` in a child
Python process (`python -m pipeline.sources.ahead`) and hands the batches to the send loop through
a pipe as Arrow record batches (`EncodedColumns`, in Arrow's IPC format): the loop's share is
making the lists of keys and values (~0.1 us a record) instead of computing them.

What the parent sees is what `SourceSet.batches()` would have given it in-process: the same
batches in the same order, the rejects reported to its `Rejects` with the same arguments in the same
order, and its `ReadCounts` as the child's after each batch (metrics and the summary read them).
An exception in the child is raised again in the parent, at the point of the stream where it
happened.

The child starts reading as soon as `ReadAhead` is made, so that its start-up (the interpreter,
pyarrow, finding the files, the first block of each) overlaps the parent's own (its imports, the
topic check, the client's connection) rather than the replay: on 2,000 files, the first batch came
~0.55 s into the replay when the child waited to be asked, ~0.4 s now (`stockpipe produce` starts the
child before it loads its Kafka client; the child needs ~0.6 s to the first batch). It computes at most
DEPTH messages ahead of the one the parent reads (a queue in the child, plus the pipe's buffer), so
the memory of both processes stays bounded whatever the input's length, also when the parent never
asks. It runs in a session of its own and ignores SIGINT and SIGTERM: a graceful stop is the
parent's (it stops asking, closes the pipe, and the child exits at its next write); it never
outlives the parent by more than one batch. It is not forked: librdkafka's threads and Arrow's
allocators do not survive a fork (a forked child waited a second for a lock before its first read).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.sources import SourceSet
from pipeline.sources.batches import EncodedBatch, EncodedColumns
from pipeline.sources.reader import ReadCounts
from pipeline.sources.rejects import Rejects

#: Messages the child may have ready beyond the one the parent reads (two a batch of ~3 MB: ~50 MB in
#: all). The child reads every file's next block at about the same time (the files hold the same days),
#: a pause of ~0.4 s per 1M records here, during which the send loop lives on what is queued: 16 batches
#: (~260k records) cover it where 4 did not (measured: 340-350k rec/s vs 310-330k, flat from 32 to 128).
DEPTH = 32
#: The pipe's buffer, asked of the kernel (Linux caps it at /proc/sys/fs/pipe-max-size, 1 MB by default).
PIPE_BYTES = 1 << 20
#: How long closing waits for the child to exit before it is killed (it exits at its next write, or
#: within its 0.5 s queue wait; a loaded machine may take longer to schedule it).
CLOSE_WAIT_S = 5.0

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
#: What crosses the pipe per batch: `EncodedColumns`.
_WIRE = pa.schema([("rank", pa.int32()), ("value", pa.binary()), ("day", pa.int32())])
#: The child's first statements: SIGINT and SIGTERM are the parent's to act on, even during imports.
_BOOT = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "from pipeline.sources.ahead import main; main()"
)


class ReadAhead:
    """`SourceSet(root).batches(batch_rows)`, computed in a child process that starts at once;
    `batches(sources)` (once) gives the `EncodedBatch`es, reporting rejects and counts to `sources`
    (a `SourceSet` of the same root); `close()` (or the `with` block's end) stops the child wherever
    it is."""

    def __init__(self, root: Path, batch_rows: int | None = None, depth: int = DEPTH) -> None:
        data_r, data_w = os.pipe()
        with contextlib.suppress(OSError):  # a smaller buffer only means more, shorter writes
            fcntl.fcntl(data_w, _F_SETPIPE_SZ, PIPE_BYTES)
        package_root = str(Path(__file__).resolve().parents[2])  # where `pipeline` is imported from
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        }
        args = [str(Path(root).resolve()), str(batch_rows or 0), str(depth)]
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, *args],
                stdin=subprocess.DEVNULL,
                stdout=data_w,
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal reaches the parent only
            )
        except BaseException:
            os.close(data_r)
            raise
        finally:
            os.close(data_w)
        self._data: int | None = data_r
        self._started = False

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def batches(self, sources: SourceSet) -> Iterator[EncodedBatch]:
        """The batches, once; rejects go to `sources.rejects`, counts to `sources.counts`."""
        if self._started:
            raise RuntimeError("a ReadAhead is read once")
        self._started = True
        return self._batches(sources)

    def _batches(self, sources: SourceSet) -> Iterator[EncodedBatch]:
        keys: list[bytes] = []
        try:
            while True:
                kind, payload, rejected, counts = pickle.loads(self._receive())
                _apply(sources, rejected, counts)
                if kind == "batch":  # payload: the keys, when they are new; the columns follow
                    keys = payload or keys
                    columns = pa.ipc.read_record_batch(pa.py_buffer(self._receive()), _WIRE)
                    yield EncodedColumns(*columns.columns).batch(keys)
                elif kind == "end":
                    return
                else:  # "error": the child's exception, raised here as if the stream raised it
                    raise payload
        finally:
            self.close()

    def _receive(self) -> bytearray:
        try:
            assert self._data is not None
            return _read_message(self._data)
        except (EOFError, OSError):
            raise RuntimeError(
                f"the source reader (process {self._process.pid}) ended without a word "
                f"(exit code {self._process.poll()}); its error, if any, is above"
            ) from None

    def close(self) -> None:
        """Stop the child (if it still runs) and release the pipe."""
        if self._data is not None:  # the child's next write fails: it exits
            os.close(self._data)
            self._data = None
        try:
            self._process.wait(CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _apply(sources: SourceSet, rejected: list[tuple[str, tuple[Any, ...]]], counts: ReadCounts) -> None:
    """Make the child's rejects again on the parent's `Rejects`; its counts become the parent's."""
    for method, args in rejected:
        getattr(sources.rejects, method)(*args)
    mine = sources.counts
    for f in fields(ReadCounts):
        setattr(mine, f.name, getattr(counts, f.name))


class _LoggedRejects(Rejects):
    """The child's Rejects: counts as the parent's would (plan_streams reads the counts) and keeps
    each call, to be made again on the parent's."""

    def __init__(self) -> None:
        super().__init__(None, echo_first=0)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def row(self, source: str, line: int, reason: str, raw: str) -> None:
        super().row(source, line, reason, raw)
        self.calls.append(("row", (source, line, reason, raw[:200])))  # Rejects keeps no more of it

    def file(self, source: str, reason: str) -> None:
        super().file(source, reason)
        self.calls.append(("file", (source, reason)))

    def take(self) -> list[tuple[str, tuple[Any, ...]]]:
        calls, self.calls = self.calls, []
        return calls


_END = object()


def main() -> None:
    """The child: `python -c _BOOT ROOT BATCH_ROWS DEPTH`; messages on stdout."""
    root, batch_rows, depth = Path(sys.argv[1]), int(sys.argv[2]) or None, int(sys.argv[3])
    data = os.dup(1)
    os.dup2(2, 1)  # a stray print must not land in the data stream
    rejects = _LoggedRejects()
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    sender = threading.Thread(target=_send, args=(out, data), name="stockpipe-source-send", daemon=True)
    sender.start()
    counts: ReadCounts = ReadCounts()
    try:
        sources = SourceSet(root, rejects)
        counts = sources.counts
        merge = sources.merge(batch_rows)
        keys: list[bytes] | None = merge.encoder.keys
        for columns in merge.columns():
            head = pickle.dumps(("batch", keys, rejects.take(), counts))
            body = pa.RecordBatch.from_arrays([columns.ranks, columns.values, columns.days], schema=_WIRE)
            if not (_put(out, head, sender) and _put(out, body.serialize(), sender)):
                return
            keys = None
        _put(out, pickle.dumps(("end", None, rejects.take(), counts)), sender)
    except BaseException as exc:  # the parent raises it where its stream would have
        try:
            message = pickle.dumps(("error", exc, rejects.take(), counts))
            pickle.loads(message)
        except Exception:
            text = "".join(traceback.format_exception(exc)).strip()
            error = RuntimeError(f"the source reader failed: {text}")
            message = pickle.dumps(("error", error, rejects.take(), counts))
        _put(out, message, sender)
    finally:
        _put(out, _END, sender)
        sender.join()
        with contextlib.suppress(OSError):
            os.close(data)


def _put(out: queue.Queue[Any], item: Any, sender: threading.Thread) -> bool:
    """Queue `item` for the sender; False when the sender stopped (the parent went away)."""
    while sender.is_alive():
        try:
            out.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


def _send(out: queue.Queue[Any], data: int) -> None:
    """The child's sender thread: write the queued messages until _END or a closed pipe."""
    while (item := out.get()) is not _END:
        try:
            _write_message(data, item)
        except OSError:  # BrokenPipeError: the parent closed its end
            return


# A message on the data pipe: its length (8 bytes, big-endian), then its bytes. Read straight into
# one buffer (multiprocessing's Connection copies a large message twice more on the way).
_HEAD = struct.Struct("!Q")


def _write_message(fd: int, payload: Any) -> None:
    _write_all(fd, memoryview(_HEAD.pack(memoryview(payload).nbytes)))
    _write_all(fd, memoryview(payload).cast("B"))


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def _read_message(fd: int) -> bytearray:
    """The next message's bytes; EOFError when the pipe ends (at a message boundary or not)."""
    (size,) = _HEAD.unpack(_read_exactly(fd, _HEAD.size))
    return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int) -> bytearray:
    buffer = bytearray(size)
    view, done = memoryview(buffer), 0
    while done < size:
        got = os.readv(fd, [view[done:]])
        if got == 0:
            raise EOFError
        done += got
    return buffer

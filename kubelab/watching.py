"""Waits that follow a watch instead of polling: a list, then every change as it happens.

A wait ends with the event that makes its condition true (no polling interval), and a watch sees
every state in between (polling can miss a transient one). ``Follower.stop`` ends a follow at
once from another thread, without waiting for the next event or the server's timeout.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Generator, Iterator
from datetime import timedelta
from typing import Any, TypeVar

from kubernetes import watch
from kubernetes.client.rest import ApiException

from kubelab.errors import EnvironmentProblem, WaitTimeout
from kubelab.transient import is_transient
from kubelab.waits import SHORT

log = logging.getLogger(__name__)

T = TypeVar("T")
PROGRESS_EVERY = 10.0  # a long wait says what it waits for, and what it sees, this often
GONE = 410  # the watch's resourceVersion is too old: list again
RETRY_PAUSE = 0.5  # after a transient error, before listing again


class _Watched:
    """A watch's HTTP response, shared by the thread reading it and ``Follower.stop``: the reader
    closes it, stop() shuts its socket down to end a blocked read, each under the follower's lock
    and the shutdown at most once, never after the close."""

    def __init__(self, response: Any, lock: threading.Lock) -> None:
        self._response = response
        self._lock = lock
        self._ended = False  # closed by the reader, or shut down by stop()

    def __getattr__(self, name: str) -> Any:  # everything else the watch reads, as it is
        return getattr(self._response, name)

    def close(self) -> None:
        with self._lock:
            self._ended = True
            self._response.close()

    def shut_down(self) -> None:
        """End the reader's read now (the caller holds the lock)."""
        if self._ended:
            return
        self._ended = True
        response = self._response
        if response.closed or response.connection is None:
            return  # the read has ended already: its body was read, or its connection handed back
        try:
            response.shutdown()
        except (OSError, RuntimeError, ValueError) as exc:
            # The reader's side ended the read between the check above and the shutdown: urllib3
            # closed the socket (EBADF, ENOTCONN), handed the connection back (RuntimeError) or
            # dropped its shutdown (ValueError). Nothing is left to end; a stop never fails the
            # wait it ends (kubernetes.watch.Watch.stop swallows these too).
            log.debug("watch already ended as it was stopped: %r", exc)


class Follower:
    """Lists the objects ``list_call(**kwargs)`` returns, then follows their changes."""

    def __init__(self, list_call: Callable[..., Any], **kwargs: Any) -> None:
        self.list_call = list_call
        self.kwargs = kwargs
        self.objects: dict[str, Any] = {}
        self._stopped = threading.Event()
        self._response: _Watched | None = None
        self._lock = threading.Lock()
        self.last_error: BaseException | None = None  # the last transient error met

    def _watched(self, *args: Any, **kwargs: Any) -> _Watched:
        response = _Watched(self.list_call(*args, **kwargs), self._lock)
        with self._lock:
            self._response = response
            if self._stopped.is_set():  # stop() came between two watches
                response.shut_down()
        return response

    def stop(self) -> None:
        """End the follow now, also while it waits for the next event; from any thread, any
        number of times."""
        self._stopped.set()
        with self._lock:
            if self._response is not None:
                self._response.shut_down()  # unblocks the read in the following thread

    def changes(self, deadline: float) -> Iterator[list[Any]]:
        """The objects (sorted by name) now, then after every change, until ``deadline``
        (a ``time.monotonic()`` value) or ``stop()``. A transient error (``is_transient``) lists
        again after a pause and is kept in ``last_error``; any other error ends the follow."""
        version = None
        while not self._stopped.is_set() and time.monotonic() < deadline:
            try:
                if version is None:
                    version = self._list()
                    yield self.snapshot()
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    version = yield from self._follow(version, min(remaining, PROGRESS_EVERY))
                    yield self.snapshot()  # the window ended: a chance to report progress
            except Exception as exc:
                if self._stopped.is_set():
                    return
                if isinstance(exc, ApiException) and exc.status == GONE:
                    version = None  # too old: list again
                    continue
                if not is_transient(exc):
                    raise
                log.info("watch interrupted (%s); listing again", exc)
                self.last_error, version = exc, None
                time.sleep(min(RETRY_PAUSE, max(0.0, deadline - time.monotonic())))

    def _list(self) -> str:
        listing = self.list_call(**self.kwargs, _request_timeout=SHORT)
        self.objects = {o.metadata.name: o for o in listing.items}
        return str(listing.metadata.resource_version)

    def _follow(self, version: str, seconds: float) -> Generator[list[Any], None, str]:
        """Watch from ``version`` for ``seconds``, yielding after each change; the last version
        seen is the generator's return value."""

        def watched(*args: Any, **kwargs: Any) -> Any:
            return self._watched(*args, **kwargs)

        # The watch finds the objects' type in the list call's signature (or, in older
        # clients, its docstring).
        watched.__wrapped__ = self.list_call  # type: ignore[attr-defined]
        watched.__doc__ = self.list_call.__doc__
        window = math.ceil(seconds)
        try:
            for event in watch.Watch().stream(
                watched,
                resource_version=version,
                timeout_seconds=window,
                allow_watch_bookmarks=True,
                _request_timeout=window + 10,
                **self.kwargs,
            ):
                version = event["raw_object"]["metadata"]["resourceVersion"]
                if event["type"] == "BOOKMARK":  # carries only a newer resourceVersion
                    continue
                name = event["raw_object"]["metadata"]["name"]
                if event["type"] == "DELETED":
                    self.objects.pop(name, None)
                else:
                    self.objects[name] = event["object"]
                yield self.snapshot()
        finally:
            with self._lock:
                self._response = None
        return version

    def snapshot(self) -> list[Any]:
        """The objects as last seen, sorted by name."""
        return [self.objects[name] for name in sorted(self.objects)]


def watch_until(
    follower: Follower,
    done: Callable[[list[Any]], bool],
    *,
    timeout: float,
    what: str,
    describe: Callable[[list[Any]], str] = repr,
    fatal: Callable[[list[Any]], str | None] = lambda _: None,
) -> list[Any]:
    """Follow until ``done(objects)``; return the objects, or raise WaitTimeout after ``timeout``
    s. When ``fatal(objects)`` returns a message, waiting longer cannot help: EnvironmentProblem
    at once."""
    if timeout <= 0:
        raise ValueError("watch_until needs a positive timeout")
    started = time.monotonic()
    next_report = started + PROGRESS_EVERY
    last = "nothing observed yet"
    for objects in follower.changes(started + timeout):
        last = describe(objects)
        problem = fatal(objects)
        if problem:
            raise EnvironmentProblem(problem)
        if done(objects):
            return objects
        if time.monotonic() >= next_report:
            next_report += PROGRESS_EVERY
            log.info(
                "still waiting for %s (%.0f s of %.0f s): %s",
                what,
                time.monotonic() - started,
                timeout,
                last,
            )
    raise WaitTimeout(
        f"{what}: not reached within {timedelta(seconds=round(timeout))}; last seen: {last}"
    ) from follower.last_error

"""The ``ray`` executor: the same ``map_unordered`` contract as ``local``, over a Ray cluster.

Ray is imported only when this executor is built (``pip install 'avdata[ray]'``). It attaches to a
running cluster (``address="auto"`` or ``"HOST:PORT"``) or, with no address and no Ray in this
process yet, starts a local one with ``workers`` CPUs (bound to the loopback address).

Design, mirroring the local executor's supervised pool so both behave alike:
- one long-lived **worker actor per slot** (a slot is ``cpus_per_item`` CPUs; by default as many
  slots as the cluster has CPUs), each running one item at a time and holding at most
  ``queue_per_worker`` items (1 by default: an idle worker takes the next item, so one long video
  never holds back an item queued behind it while another worker sits idle; raise it for items
  so short that the round trip matters), so a five-million-item list never sits in the driver or
  the object store at once;
- results are handled in completion order (``ray.wait``);
- a worker process that dies (OOM, SIGKILL, a node lost) is restarted by Ray and its item retried
  (``max_retries``); what still fails after that becomes ``on_lost(item, "worker_died")``;
- an item that raises becomes ``on_lost(item, "error")`` (never an exception that stops the run),
  or is re-raised when no ``on_lost`` handler is given, as the local pool does;
- ``item_timeout`` is a hard limit per item, measured from when the item starts on its worker
  (known exactly, because each worker runs its queue in order): the worker is killed, replaced,
  and ``on_lost(item, "timeout")`` supplies the item's result.

Workers write media files themselves into the output root, which on a cluster must be a shared
filesystem mounted at the same path on every node; ``check_shared_paths`` proves that before work
starts. The driver alone writes manifests.

**Single calls from driver threads** (``start_calls`` / ``call``, the ``RemoteCalls`` contract): a
stage that keeps its control loop in driver threads (fetch) runs one ``fn(arg)`` as one Ray task
(``cpus_per_call`` CPUs, small for I/O-bound work; spread over the nodes; a dead worker retried
``max_retries`` times, then ``CallLost("worker_died")``). The calling thread waits with ``ray.wait``
in short steps, so a ``stop`` event set meanwhile cancels the task (``ray.cancel(force=True)``) and
raises ``CallCancelled``. ``start_calls`` connects and proves that every alive node sees
``shared_paths`` (``check_shared_paths_on_nodes``: one probe task pinned to each node).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from avdata.errors import AvdataError, MissingExtraError
from avdata.executors import CallCancelled, CallLost, register_executor

T = TypeVar("T")
R = TypeVar("R")

LOST_TIMEOUT = "timeout"
LOST_WORKER_DIED = "worker_died"
LOST_ERROR = "error"


class ClusterError(AvdataError):
    """The Ray cluster cannot run this stage (not reachable, or workers do not see the output root)."""


def import_ray() -> Any:
    """``ray``, or a one-line error naming the extra to install."""
    try:
        import ray
    except ImportError as e:
        raise MissingExtraError("ray", "ray") from e
    return ray


def ensure_ray(address: str | None = None, cpus: int | None = None) -> Any:
    """Connect this process to Ray: attach to ``address``, reuse an existing connection, or start
    a local instance with ``cpus`` CPUs on the loopback address. Returns the ``ray`` module."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True,
                              "configure_logging": False}
    if address:
        check_reachable(address)
        kwargs["address"] = address
    else:
        # a local instance's workers import the same avdata as this driver (a checkout, say)
        here = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])
        kwargs.update(num_cpus=cpus or os.cpu_count() or 1, _node_ip_address="127.0.0.1",
                      runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        ray.init(**kwargs)
    except Exception as e:  # noqa: BLE001  Ray raises many kinds (ConnectionError, RuntimeError...)
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise ClusterError(f"could not connect to {where}: {type(e).__name__}: {e}") from e
    return ray


CONNECT_TIMEOUT = 10.0
_DEFAULT_PORTS = {"ray://": 10001, "": 6379}     # Ray Client server; the cluster's GCS


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail fast with a one-line ``ClusterError`` when ``HOST:PORT`` (or ``ray://HOST:PORT``) does not
    accept a TCP connection: ``ray.init`` itself waits minutes on an unreachable address.
    ``auto`` and ``local`` are left to Ray (they name no host)."""
    if address in ("auto", "local"):
        return
    scheme = "ray://" if address.startswith("ray://") else ""
    rest = address[len(scheme):]
    host, sep, port = rest.rpartition(":")
    if not sep:
        host, port = rest, str(_DEFAULT_PORTS[scheme])
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError:
        raise ClusterError(f"--ray-address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT") from None
    try:
        socket.create_connection((host, number), timeout=timeout).close()
    except OSError as e:
        reason = "timed out" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__)
        raise ClusterError(f"could not connect to the Ray cluster at {address}: {reason} "
                           f"(is `ray start --head` running there?)") from None


class _Worker:
    """The body of a worker actor: runs ``fn(item)`` and reports ("ok", result) or ("error", text)."""

    def ping(self) -> int:
        return os.getpid()

    def run(self, fn: Callable[[Any], Any], item: Any) -> tuple[str, Any]:
        try:
            return "ok", fn(item)
        except Exception as e:  # noqa: BLE001  reported as the item's error, with its type
            return "error", f"{type(e).__name__}: {e}"

    def read_token(self, path: str) -> tuple[str, str | None]:
        """(node id, token text or None) for the shared-path check."""
        import ray

        try:
            text = Path(path).read_text()
        except OSError:
            text = None
        return ray.get_runtime_context().get_node_id(), text


@dataclass
class _Slot:
    actor: Any
    queue: deque[tuple[Any, Any]] = field(default_factory=deque)   # (item, ref) in run order
    started: float = 0.0                                             # when the head item started


@register_executor("ray")
@dataclass
class RayExecutor:
    """Run per-item jobs on Ray worker actors (see the module docstring).

    ``workers``: slots to use (default: the cluster's CPUs / ``cpus_per_item``); also the CPU count
    of a local instance started here. ``address``: ``"auto"``, ``"HOST:PORT"`` or ``None``.
    """

    workers: int | None = None
    address: str | None = None
    cpus_per_item: float = 1.0
    queue_per_worker: int = 1
    max_retries: int = 2
    item_timeout: float | None = None
    on_lost: Callable[[Any, str], Any] | None = None
    shared_paths: Sequence[str] = ()
    cpus_per_call: float = 0.25           # call(): one Ray task per call, I/O-bound by default
    call_strategy: str = "SPREAD"         # call(): spread the tasks over the nodes
    call_poll: float = 0.25               # call(): seconds between looks at the stop event
    _call_task: Any = field(default=None, init=False, repr=False)
    _call_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        ray = ensure_ray(self.address, self.workers)
        slots = [self._new_slot(ray) for _ in range(self._slot_count(ray))]
        try:
            ray.get([s.actor.ping.remote() for s in slots])     # started: time limits count from here
            if self.shared_paths:
                check_shared_paths(ray, [s.actor for s in slots], self.shared_paths)
            yield from self._run(ray, slots, fn, iter(items))
        finally:
            for s in slots:
                ray.kill(s.actor)

    def start_calls(self) -> None:
        """Connect to Ray and check ``shared_paths`` on every alive node, once, before ``call``."""
        with self._call_lock:
            if self._call_task is not None:
                return
            ray = ensure_ray(self.address, self.workers)
            if self.shared_paths:
                check_shared_paths_on_nodes(ray, self.shared_paths)
            self._call_task = ray.remote(_invoke).options(
                num_cpus=self.cpus_per_call, max_retries=self.max_retries,
                scheduling_strategy=self.call_strategy)

    def call(self, fn: Callable[[T], R], arg: T, *, stop: threading.Event | None = None) -> R:
        """``fn(arg)`` as one Ray task; blocks this thread until it returns (see the module docstring)."""
        self.start_calls()
        ray = import_ray()
        ref = self._call_task.remote(fn, arg)
        while not ray.wait([ref], timeout=self.call_poll)[0]:
            if stop is not None and stop.is_set():
                ray.cancel(ref, force=True)
                raise CallCancelled("the run is stopping")
        try:
            return ray.get(ref)
        except ray.exceptions.TaskCancelledError as e:
            raise CallCancelled(f"cancelled: {e}") from e
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.ObjectLostError, ray.exceptions.RayActorError) as e:
            detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CallLost(LOST_WORKER_DIED, f"{type(e).__name__}: {detail}") from e
        except ray.exceptions.RayError as e:
            text = str(e).strip().splitlines()
            raise CallLost(LOST_ERROR, f"{type(e).__name__}: {text[-1] if text else ''}") from e

    def _slot_count(self, ray: Any) -> int:
        if self.workers:
            return max(1, int(self.workers))
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        return max(1, int(cpus // self.cpus_per_item))

    def _new_slot(self, ray: Any) -> _Slot:
        actor_cls = ray.remote(_Worker).options(num_cpus=self.cpus_per_item, max_restarts=self.max_retries,
                                                max_task_retries=self.max_retries)
        return _Slot(actor_cls.remote())

    def _lost(self, item: Any, reason: str, detail: str) -> Any:
        if self.on_lost is None:
            raise AvdataError(f"item {item!r}: {reason}: {detail}")
        return self.on_lost(item, reason)

    def _run(self, ray: Any, slots: list[_Slot], fn: Callable[[T], R], it: Iterator[T]) -> Iterator[R]:
        exhausted = False

        def feed(slot: _Slot) -> None:
            nonlocal exhausted
            while not exhausted and len(slot.queue) < self.queue_per_worker:
                item = next(it, _END)
                if item is _END:
                    exhausted = True
                    return
                if not slot.queue:
                    slot.started = time.monotonic()
                slot.queue.append((item, slot.actor.run.remote(fn, item)))

        for s in slots:
            feed(s)
        while any(s.queue for s in slots):
            heads = {s.queue[0][1]: s for s in slots if s.queue}
            timeout = None
            if self.item_timeout is not None:
                first = min(s.started for s in heads.values()) + self.item_timeout
                timeout = max(0.0, first - time.monotonic())
            ready, _ = ray.wait(list(heads), num_returns=1, timeout=timeout)
            now = time.monotonic()
            for ref in ready:
                slot = heads[ref]
                item, _ = slot.queue.popleft()
                slot.started = now
                yield self._result(ray, item, ref)
                feed(slot)
            if self.item_timeout is None:
                continue
            for i, slot in enumerate(slots):
                if slot.queue and slot.queue[0][1] not in ready and now - slot.started >= self.item_timeout:
                    yield from self._replace_timed_out(ray, slots, i, fn)
                    feed(slots[i])

    def _result(self, ray: Any, item: Any, ref: Any) -> Any:
        try:
            status, value = ray.get(ref)
        except ray.exceptions.RayActorError as e:
            return self._lost(item, LOST_WORKER_DIED, str(e).splitlines()[0] if str(e) else type(e).__name__)
        except ray.exceptions.RayError as e:
            return self._lost(item, LOST_ERROR, f"{type(e).__name__}: {e}")
        if status == "error":
            return self._lost(item, LOST_ERROR, value)
        return value

    def _replace_timed_out(self, ray: Any, slots: list[_Slot], i: int, fn: Callable[[Any], Any]) -> Iterator[Any]:
        """Kill slot ``i``'s worker (its head item overran), report that item, and requeue the
        items waiting behind it on a fresh worker."""
        old = slots[i]
        ray.kill(old.actor, no_restart=True)
        item, _ = old.queue.popleft()
        waiting = [it for it, _ in old.queue]
        new = self._new_slot(ray)
        ray.get(new.actor.ping.remote())
        new.started = time.monotonic()
        for w in waiting:
            new.queue.append((w, new.actor.run.remote(fn, w)))
        slots[i] = new
        yield self._lost(item, LOST_TIMEOUT, f"over the limit of {self.item_timeout:g} s")


_END: Any = object()


def _invoke(fn: Callable[[Any], Any], arg: Any) -> Any:
    """The body of a ``call()`` task."""
    return fn(arg)


def _read_token(path: str) -> tuple[str, str | None]:
    """The body of a node probe task: (node id, token text or None)."""
    return _Worker().read_token(path)


def check_shared_paths(ray: Any, actors: Sequence[Any], paths: Sequence[str]) -> None:
    """Write a token into each of ``paths`` and have every worker read it back: on a cluster the
    output root must be one shared filesystem mounted at the same path on every node."""
    _check_tokens(ray, paths, lambda probe: [a.read_token.remote(probe) for a in actors])


def check_shared_paths_on_nodes(ray: Any, paths: Sequence[str], *, timeout: float = 120.0) -> None:
    """``check_shared_paths`` with one probe task pinned to each alive node that has CPUs (for
    ``call()``, whose tasks may land on any node)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    probe_task = ray.remote(_read_token)

    def ask(probe: str) -> list[Any]:
        return [probe_task.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                .remote(probe) for node in nodes]

    _check_tokens(ray, paths, ask, timeout=timeout)


def _check_tokens(ray: Any, paths: Sequence[str], ask: Callable[[str], list[Any]],
                  timeout: float | None = None) -> None:
    for root in paths:
        Path(root).mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(8)
        probe = Path(root) / f".avdata-ray-probe-{token}"
        probe.write_text(token)
        try:
            answers = ray.get(ask(str(probe)), timeout=timeout)
        except ray.exceptions.GetTimeoutError as e:
            raise ClusterError(f"{root}: the Ray nodes did not answer the shared-folder probe within "
                               f"{timeout:g} s") from e
        finally:
            probe.unlink(missing_ok=True)
        blind = sorted({node for node, text in answers if text != token})
        if blind:
            raise ClusterError(f"{root}: Ray workers on node(s) {', '.join(n[:12] for n in blind)} do not see "
                               f"this folder; on a cluster the output root must be a shared filesystem "
                               f"mounted at the same path on every node")

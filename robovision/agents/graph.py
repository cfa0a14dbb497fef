"""Off-policy updates replayed as CUDA graphs (``train.cuda_graph``), and a CPU check
that an update can be captured.

An update of the main job launches several hundred small kernels. On a GPU, issuing them
from Python costs more host time than the GPU spends running them (issue 11 measured an
11.7 ms update on an H200 with the GPU 10-16 % busy). A CUDA graph records the kernels of
one update once and replays them with a single call.

A graph replays exactly what it recorded. An update can be captured when:

- its inputs sit at fixed addresses: the runner copies each batch into static tensors
  before a replay, and a scalar that changes between updates (TD3's scheduled smoothing
  std) lives in a device tensor that the agent fills outside the captured step;
- its Python control flow is fixed for a given *phase*: agents decide, outside the
  captured step, which parts run (the actor update, the target update), and the runner
  keeps one graph per phase;
- nothing in it reads a tensor on the host (``.item()``, ``float(t)``, ``if t > 0``), and
  nothing makes a tensor from host data;
- its optimisers are capturable (``Adam(capturable=True)``), and autocast runs without
  its weight cache (the encoder and projections use ``cache_enabled=False``).

:class:`CheckedCapture` tests those rules on any device. It is a capture backend that
records the ops of the first call and checks each later call against them.
:func:`check_capturable` applies it to an agent and raises on the first op that would
have replayed a stale value or synchronised with the host.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol, runtime_checkable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_unflatten

from robovision.replay.batch import Batch

Phase = Hashable
"""What fixes the Python control flow of one update (for example: does the actor update)."""
Learn = Callable[[Batch, Phase], dict[str, torch.Tensor]]
"""An agent's tensor work for one update: ``(batch, phase) -> metrics``."""


class EagerUpdates:
    """The default runner: call the update."""

    def __call__(self, learn: Learn, batch: Batch, phase: Phase) -> dict[str, torch.Tensor]:
        return learn(batch, phase)

    def reset(self) -> None:
        """Nothing is cached."""


class Runner(Protocol):
    """How an agent's update runs: ``EagerUpdates`` or ``GraphedUpdates``."""

    def __call__(self, learn: Learn, batch: Batch, phase: Phase
                 ) -> dict[str, torch.Tensor]: ...

    def reset(self) -> None: ...


class Capture(Protocol):
    """Records ``body`` and returns a function that replays it and returns its output.
    ``stream``: the CUDA stream of the warm-up updates (None off CUDA)."""

    def __call__(self, body: Callable[[], torch.Tensor], stream: Any
                 ) -> Callable[[], torch.Tensor]: ...


def cuda_graph_capture(body: Callable[[], torch.Tensor], stream: Any
                       ) -> Callable[[], torch.Tensor]:
    """Capture ``body`` into a CUDA graph on ``stream``, the stream the warm-up updates ran
    on, so the cuBLAS and cuDNN handles and workspaces they created are reused rather than
    created mid-capture. The graph runs nothing until its first replay, and the tensor
    ``body`` returned is rewritten by every replay."""
    graph = torch.cuda.CUDAGraph()
    # thread_local: another thread's CUDA work (a video or plot side task) must not
    # abort the capture; this thread's own unsafe calls still raise.
    with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
        output = body()

    def replay() -> torch.Tensor:
        graph.replay()
        return output

    return replay


class _Captured:
    """One phase's graph: the static batch it reads, and the stacked metrics it writes."""

    def __init__(self, learn: Learn, batch: Batch, phase: Phase, capture: Capture,
                 stream: Any) -> None:
        leaves, self.spec = tree_flatten(vars(batch))
        self.inputs = [leaf.clone() for leaf in leaves]
        static = Batch(**tree_unflatten(self.inputs, self.spec))
        self.keys: list[str] = []

        def body() -> torch.Tensor:
            metrics = learn(static, phase)
            self.keys = list(metrics)
            return torch.stack([metrics[k].float() for k in self.keys])

        self.replay = capture(body, stream)

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        leaves, spec = tree_flatten(vars(batch))
        if spec != self.spec:
            raise ValueError(f"a CUDA graph was captured for batches shaped {self.spec}; "
                             f"this batch is {spec}")
        torch._foreach_copy_(self.inputs, leaves)
        # One copy out of the graph's output, so the metrics survive the next replay.
        return dict(zip(self.keys, self.replay().clone().unbind(), strict=True))


class GraphedUpdates:
    """A runner that replays one captured graph per update phase.

    The first ``warmup`` updates of each phase run eagerly, on CUDA on the side stream the
    captures use (as capture requires): they create the optimiser state, the library
    handles and workspaces of that stream, and let cuDNN pick its kernels.
    The next one is captured and replayed; from then on every update of that phase is a
    copy of the batch and one replay. :meth:`reset` drops the graphs: call it whenever
    the tensors a graph reads are replaced (loading a checkpoint replaces the optimiser
    state).
    """

    def __init__(self, capture: Capture = cuda_graph_capture, warmup: int = 3) -> None:
        self.capture, self.warmup = capture, warmup
        self.graphs: dict[Phase, _Captured] = {}
        self.eager_calls: dict[Phase, int] = {}
        self.stream: Any = None

    def __call__(self, learn: Learn, batch: Batch, phase: Phase) -> dict[str, torch.Tensor]:
        graph = self.graphs.get(phase)
        if graph is None:
            if self.stream is None and _on_cuda(batch):
                self.stream = torch.cuda.Stream(batch.action.device)
            calls = self.eager_calls[phase] = self.eager_calls.get(phase, 0) + 1
            if calls <= self.warmup:
                return _on_stream(self.stream, learn, batch, phase)
            graph = self.graphs[phase] = _Captured(learn, batch, phase, self.capture,
                                                   self.stream)
        return graph(batch)

    def reset(self) -> None:
        self.graphs.clear()
        self.eager_calls.clear()


@runtime_checkable
class GraphableAgent(Protocol):
    """An off-policy agent whose update can run through a runner (SAC, TD3, DDPG)."""

    runner: Runner
    capturable: bool

    def use_runner(self, runner: Runner, capturable: bool) -> None:
        """Run every update through ``runner``; ``capturable``: make the optimisers safe
        to capture in a CUDA graph."""
        ...

    def update(self, batch: Batch) -> dict[str, torch.Tensor]: ...


def _on_stream(side: Any, learn: Learn, batch: Batch, phase: Phase
               ) -> dict[str, torch.Tensor]:
    if side is None:
        return learn(batch, phase)
    main = torch.cuda.current_stream()
    side.wait_stream(main)
    with torch.cuda.stream(side):
        metrics = learn(batch, phase)
    main.wait_stream(side)
    return metrics


def _on_cuda(batch: Batch) -> bool:
    return batch.action.device.type == "cuda"


# --------------------------------------------------------------------------- the check


class NotCapturable(RuntimeError):
    """An update did something a CUDA graph would not replay faithfully."""


HOST_SYNC_OPS = {"aten::_local_scalar_dense": "reads a tensor on the host (.item(), float(t), "
                                               "or a Python if on a tensor)",
                 "aten::nonzero": "has an output shape that depends on data (nonzero)",
                 "aten::lift_fresh": "makes a tensor from host data (torch.tensor(...))"}


def _signature(func: Any, args: tuple, kwargs: dict) -> tuple:
    """An op and what a graph would bake into it: its non-tensor arguments, and the
    shapes and dtypes of its tensor arguments."""
    leaves, _ = tree_flatten((args, kwargs))
    return str(func), tuple(_baked(x) for x in leaves)


_VALUES = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout,
           torch.memory_format)


def _baked(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return tuple(x.shape), x.dtype
    return x if isinstance(x, _VALUES) else type(x).__name__  # profiler handles and such


class OpRecorder(TorchDispatchMode):
    """Records the signature of every aten op dispatched inside it; with ``expected``,
    raises :class:`NotCapturable` at the first op that differs from the expected one."""

    def __init__(self, expected: list[tuple] | None = None) -> None:
        super().__init__()
        self.ops: list[tuple] = []
        self.expected = expected

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name
        if name in HOST_SYNC_OPS:
            raise NotCapturable(f"the update {HOST_SYNC_OPS[name]} ({func}); a CUDA graph "
                                "cannot capture an exchange with the host")
        signature = _signature(func, args, kwargs)
        if self.expected is not None:
            index = len(self.ops)
            if index >= len(self.expected) or self.expected[index] != signature:
                was = self.expected[index] if index < len(self.expected) else "nothing"
                raise NotCapturable(
                    f"op {index} of this update differs from the captured one: {signature} "
                    f"now, {was} when captured. A CUDA graph would replay the captured op: "
                    "a Python value that changes between updates must live in a tensor, "
                    "and control flow must be fixed by the update's phase.")
        self.ops.append(signature)
        return func(*args, **kwargs)


class CheckedCapture:
    """A capture backend for any device that checks, instead of graphing. The first call
    records every op the update dispatches; each replay runs the update again and stops
    at the first op whose non-tensor arguments, shapes or order differ, or that reads a
    tensor on the host. Those are the updates a CUDA graph would silently get wrong."""

    def __call__(self, body: Callable[[], torch.Tensor], stream: Any = None
                 ) -> Callable[[], torch.Tensor]:
        with OpRecorder() as recorder:
            static = body()
        recorded, pending = recorder.ops, [True]

        def replay() -> torch.Tensor:
            if pending:  # a CUDA graph's capture runs nothing: its first replay does
                pending.pop()
                return static
            with OpRecorder(expected=recorded) as checker:
                output = body()
            if len(checker.ops) != len(recorded):
                raise NotCapturable(f"this update ran {len(checker.ops)} ops; the captured "
                                    f"one ran {len(recorded)}")
            return static.copy_(output)  # a graph rewrites its one output tensor

        return replay


def check_capturable(agent: GraphableAgent, batches: Callable[[], Batch], updates: int = 8
                     ) -> None:
    """Run ``updates`` updates of ``agent`` on fresh batches through :class:`CheckedCapture`
    (one warm-up per phase); raises :class:`NotCapturable` where a CUDA graph would
    replay a stale value or meet a host synchronisation."""
    runner, capturable = agent.runner, agent.capturable
    agent.use_runner(GraphedUpdates(CheckedCapture(), warmup=1), capturable=True)
    try:
        for _ in range(updates):
            agent.update(batches())
    finally:
        agent.use_runner(runner, capturable)

"""Off-policy updates and acts replayed as CUDA graphs (``train.cuda_graph``), and a CPU
check that they can be captured.

An update of the main job launches several hundred small kernels, and an act (encoder,
actor) several dozen. On a GPU, issuing them from Python costs more host time than the
GPU spends running them (issue 11 measured an 11.7 ms update on an H200 with the GPU
10-16 % busy, and a 1 ms act for one observation). A CUDA graph records the kernels of
one call once and replays them with a single call.

A graph replays exactly what it recorded. An update can be captured when:

- its inputs sit at fixed addresses: the runner copies each batch (or observation) into
  static tensors before a replay, and a scalar that changes between updates (TD3's
  scheduled smoothing std) lives in a device tensor that the agent fills outside the
  captured step (or, like exploration noise, is applied outside the graph); an update
  that samples its own batch (``update_from``) reads the replay's preallocated storage
  and its step count on the device (``ReplayBuffer.t_device``);
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
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from robovision.replay.batch import Batch

Phase = Hashable
"""What fixes the Python control flow of one call (for example: does the actor update)."""
Step = Callable[[Any, Phase], Any]
"""What a runner runs: ``(inputs, phase) -> outputs``, tensors in and float tensors out
(an update: batch -> metrics; acting: observations -> actions)."""


class Eager:
    """The default runner: call the function."""

    def __call__(self, step: Step, inputs: Any, phase: Phase) -> Any:
        return step(inputs, phase)

    def reset(self) -> None:
        """Nothing is cached."""


class Runner(Protocol):
    """How an agent's updates or acts run: :class:`Eager` or :class:`Graphed`."""

    def __call__(self, step: Step, inputs: Any, phase: Phase) -> Any: ...

    def reset(self) -> None: ...


class Capture(Protocol):
    """Records ``body`` and returns a function that replays it and returns its output.
    ``stream``: the CUDA stream of the warm-up calls (None off CUDA)."""

    def __call__(self, body: Callable[[], torch.Tensor], stream: Any
                 ) -> Callable[[], torch.Tensor]: ...


def cuda_graph_capture(body: Callable[[], torch.Tensor], stream: Any
                       ) -> Callable[[], torch.Tensor]:
    """Capture ``body`` into a CUDA graph on ``stream``, the stream the warm-up calls ran
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
    """One graph: the static inputs it reads, and its outputs packed in one float vector
    that every replay rewrites."""

    def __init__(self, step: Step, inputs: Any, phase: Phase, capture: Capture,
                 stream: Any) -> None:
        leaves, self.spec = tree_flatten(inputs)
        self.inputs = [leaf.clone() for leaf in leaves]
        static = tree_unflatten(self.inputs, self.spec)
        self.out_spec: Any = None
        self.shapes: list[torch.Size] = []

        def body() -> torch.Tensor:
            outputs, self.out_spec = tree_flatten(step(static, phase))
            self.shapes = [out.shape for out in outputs]
            return torch.cat([out.float().reshape(-1) for out in outputs])

        self.replay = capture(body, stream)

    def __call__(self, leaves: list[torch.Tensor]) -> Any:
        torch._foreach_copy_(self.inputs, leaves)
        # One copy out of the graph's output, so what it returns survives the next replay.
        packed = self.replay().clone()
        parts = packed.split([shape.numel() for shape in self.shapes])
        return tree_unflatten([p.view(s) for p, s in zip(parts, self.shapes, strict=True)],
                              self.out_spec)


class Graphed:
    """A runner that replays one captured graph per phase and input shapes.

    The first ``warmup`` calls of each run eagerly, on CUDA on the side stream the
    captures use (as capture requires): they create the optimiser state, the library
    handles and workspaces of that stream, and let cuDNN pick its kernels.
    The next one is captured and replayed; from then on every call is a copy of the
    inputs into the graph's and one replay. Acting captures one graph per batch size
    (one env, the evaluation envs). :meth:`reset` drops the graphs: call it whenever
    the tensors a graph reads are replaced (loading a checkpoint replaces the optimiser
    state).
    """

    def __init__(self, capture: Capture = cuda_graph_capture, warmup: int = 3) -> None:
        self.capture, self.warmup = capture, warmup
        self.graphs: dict[Hashable, _Captured] = {}
        self.eager_calls: dict[Hashable, int] = {}
        self.stream: Any = None

    def __call__(self, step: Step, inputs: Any, phase: Phase) -> Any:
        leaves, spec = tree_flatten(inputs)
        key = (phase, str(spec), *((leaf.shape, leaf.dtype) for leaf in leaves))
        graph = self.graphs.get(key)
        if graph is None:
            if self.stream is None and leaves[0].device.type == "cuda":
                self.stream = torch.cuda.Stream(leaves[0].device)
            calls = self.eager_calls[key] = self.eager_calls.get(key, 0) + 1
            if calls <= self.warmup:
                return _on_stream(self.stream, step, inputs, phase)
            graph = self.graphs[key] = _Captured(step, inputs, phase, self.capture,
                                                 self.stream)
        return graph(leaves)

    def reset(self) -> None:
        self.graphs.clear()
        self.eager_calls.clear()


@runtime_checkable
class GraphableAgent(Protocol):
    """An off-policy agent whose updates and acts can run through runners (SAC, TD3,
    DDPG)."""

    runner: Runner
    act_runner: Runner
    capturable: bool

    def use_runner(self, runner: Runner, capturable: bool, acts: Runner | None = None
                   ) -> None:
        """Run every update through ``runner`` and every act through ``acts`` (eagerly
        when None); ``capturable``: make the optimisers safe to capture in a CUDA graph."""
        ...

    def update(self, batch: Batch) -> dict[str, torch.Tensor]: ...

    def update_from(self, replay: Any, batch_size: int) -> dict[str, torch.Tensor]:
        """An update whose batch ``replay`` samples inside the runner's step."""
        ...

    def act(self, obs: Any, eval: bool = False) -> Any: ...


def _on_stream(side: Any, step: Step, inputs: Any, phase: Phase) -> Any:
    if side is None:
        return step(inputs, phase)
    main = torch.cuda.current_stream()
    side.wait_stream(main)
    with torch.cuda.stream(side):
        outputs = step(inputs, phase)
    main.wait_stream(side)
    return outputs


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
    (one warm-up per phase), each followed by acts on one of the batch's observations and
    on all of them, exploring and evaluating; raises :class:`NotCapturable` where a CUDA
    graph would replay a stale value or meet a host synchronisation."""
    runner, acts, capturable = agent.runner, agent.act_runner, agent.capturable
    agent.use_runner(Graphed(CheckedCapture(), warmup=1), capturable=True,
                     acts=Graphed(CheckedCapture(), warmup=1))
    try:
        for _ in range(updates):
            batch = batches()
            agent.update(batch)
            observations = tree_map(lambda t: t.cpu().numpy(), batch.obs)
            one = tree_map(lambda x: x[0], observations)
            for eval in (False, True):
                agent.act(one, eval=eval)
                agent.act(observations, eval=eval)
    finally:
        agent.use_runner(runner, capturable, acts)

"""Which wasm ops the threads split, and where they must meet.

In the threaded module every op of a segment is split over the ``nth`` threads, and all threads meet
at a barrier after it (the next op reads what every thread wrote). For a small op the barrier costs
more than the split saves: at two threads a MobileNetV3- or CLIP-text-sized model ran slower than at
one, since most of its ops take a few microseconds. So an op whose work (multiply-adds for the
product ops, elements read and written for the rest) is below ``serial_below`` runs on thread 0
alone, and no barrier separates two such ops: the same thread runs them in order. A barrier stays
wherever the threads change hands (parallel → serial, serial → parallel) and after a parallel op.
"""

from __future__ import annotations

import math
from typing import Optional, Union

from webdnn_build.codegen import FUSED_ATTENTION
from webdnn_build.ir import Graph, Node

from .symbolic import CExpr

#: default of the ``serial_below`` backend option: about 5-15 µs of single-threaded work, what a
#: barrier between two threads costs in V8 in the worst case (measured with bench/bench.py)
SERIAL_BELOW = 16384

#: default of the ``thread_min_work`` backend option: a segment whose split ops add up to less work runs
#: on the calling thread alone. 0: every segment splits. It was 32 M multiply-adds while workers slept
#: 0.2 ms after a run: waking them cost 0.5-0.7 ms on a 2-core VM, so CLIP-text, MobileNetV3, ViT, the
#: Whisper encoder and U-Net were slower at 2 threads. Since workers spin ~8 ms after a run (rt.c,
#: WDN_SPIN_COUNT) the split pays off on all of them (timed in-process, a GC before each run: DistilBERT 1.50 -> 0.94 ms,
#: MobileNetV3 0.36 -> 0.25 ms, CLIP-text 0.49 -> 0.39 ms at 2 threads with a GC between runs).
THREAD_MIN_WORK = 0

#: recurrent ops: already split by (direction, batch) sequence, one thread each; never serialized
_SEQUENTIAL = {"LSTM", "GRU", "RNN"}


def _sized(v) -> bool:
    """A shape of ints, or of ints and sizes known at run time (symbolic.CExpr): the work is then C text."""
    return v is not None and v.shape is not None and all(isinstance(d, (int, CExpr)) for d in v.shape)


def _numel(graph: Graph, name: str):
    v = graph.values.get(name) if name else None
    if v is None or not _sized(v):
        return 0
    return v.numel() if v.is_static else math.prod(v.shape)


def _shape(graph: Graph, name: str) -> Optional[tuple]:
    v = graph.values.get(name) if name else None
    return tuple(v.shape) if _sized(v) else None


def op_work(node: Node, graph: Graph) -> int:
    """A size of the op's work: multiply-adds for Conv/ConvTranspose/Gemm/MatMul/attention, else the
    elements it reads and writes (constants included: a Gather from a big table reads few of them, but
    that errs towards splitting, the old behaviour)."""
    op = node.op_type
    out = _numel(graph, node.outputs[0]) if node.outputs else 0
    w = _shape(graph, node.inputs[1]) if len(node.inputs) > 1 else None
    if op in ("Conv", "ConvInteger") and w is not None and len(w) >= 2:
        k = 1
        for d in w[1:]:
            k *= d
        return out * k
    if op == "ConvTranspose" and w is not None and len(w) >= 2:
        k = 1
        for d in w[1:]:
            k *= d
        return _numel(graph, node.inputs[0]) * k
    if op in ("Gemm", "MatMul", "MatMulInteger", "MatMulNBits"):
        a = _shape(graph, node.inputs[0])
        k = a[-1] if a else 1
        if op == "Gemm" and node.attrs.get("transA") and a:
            k = a[0]
        return out * k
    if (node.domain, op) == FUSED_ATTENTION:
        q, key = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])
        if q and key:
            return 2 * _numel(graph, node.inputs[0]) * key[-2]
    return out + sum(_numel(graph, i) for i in node.inputs)


def serial_ops(nodes: list[Node], graph: Graph, below: int) -> list[Union[bool, str]]:
    """For each op, True when thread 0 alone runs it (work below ``below``; 0 splits every op). An op whose work
    depends on sizes known at run time gets a C condition instead (``(work) < below``), decided per run."""
    out: list[Union[bool, str]] = []
    for node in nodes:
        work = op_work(node, graph)
        if node.op_type in _SEQUENTIAL:
            out.append(False)
        elif isinstance(work, CExpr):
            out.append(f"({work} < {below})")
        else:
            out.append(work < below)
    return out


def runs_alone(nodes: list[Node], graph: Graph, serial: list, min_work: int) -> Union[bool, str]:
    """Whether a segment runs on one thread: every op runs on thread 0 alone anyway (waking the workers would buy
    nothing), or the ops it would split add up to less than ``min_work``. Where that depends on sizes known at run
    time (ops serial below a size), a C condition: all of those ops are serial this run (a decoding step's)."""
    if all(alone is True for alone in serial):
        return True
    conditions = [alone for alone in serial if isinstance(alone, str)]
    if conditions and not any(alone is False for alone in serial):
        return "(" + " && ".join(conditions) + ")"
    works = [op_work(n, graph) for n, alone in zip(nodes, serial) if alone is not True]
    if any(isinstance(w, CExpr) for w in works):
        return False
    return sum(works) < min_work


def threads_function(alone: dict[int, Union[bool, str]]) -> list[str]:
    """``wdn_segment_threads(seg, nth)``: the threads a segment runs on (rt.c asks before dispatching); ``alone``:
    segment -> True (one thread) or a C condition for it (decided per run)."""
    lines = ["int wdn_segment_threads(int seg, int nth) {"]
    fixed = [i for i, a in alone.items() if a is True]
    decided = {i: a for i, a in alone.items() if isinstance(a, str)}
    if fixed or decided:
        lines.append("  switch (seg) {")
        if fixed:
            lines += [*[f"    case {i}:" for i in fixed], "      return 1;"]
        for i, cond in decided.items():
            lines += [f"    case {i}:", f"      return {cond} ? 1 : nth;"]
        lines += ["    default:", "      return nth;", "  }"]
    else:
        lines += ["  (void)seg;", "  return nth;"]
    return lines + ["}"]


def segment_lines(bodies: list[list[str]], serial: list[bool]) -> list[str]:
    """The C statements of one segment: each op's body, thread 0's alone for a serial op (in a block
    that rebinds ``tid``/``nth``, so its kernel call and scratch see a one-thread split), and a barrier
    after every op except between two serial ones."""
    lines: list[str] = []
    for i, (body, alone) in enumerate(zip(bodies, serial)):
        if isinstance(alone, str):  # decided per run: thread 0 alone below the threshold, else split
            lines += [f"if {alone} {{", "  if (tid == 0) { const int tid = 0, nth = 1; (void)tid; (void)nth;",
                      *[f"    {s}" for s in body], "  }", "} else {", *[f"  {s}" for s in body], "}"]
        elif alone:
            lines += ["if (tid == 0) { const int tid = 0, nth = 1; (void)tid; (void)nth;",
                      *[f"  {s}" for s in body], "}"]
        else:
            lines += body
        last = i == len(bodies) - 1
        if last or not (alone is True and serial[i + 1] is True):
            lines.append("wdn_barrier(nth);")
    return lines

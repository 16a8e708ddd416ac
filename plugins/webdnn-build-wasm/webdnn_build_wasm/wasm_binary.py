"""Reading the memory import limits out of a linked wasm module (the linker sizes the memory)."""

from __future__ import annotations


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def memory_import_pages(module: bytes) -> tuple[int, int | None]:
    """(initial, maximum) pages of the module's imported memory."""
    if module[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    pos = 8
    while pos < len(module):
        section, pos = module[pos], pos + 1
        size, pos = _leb(module, pos)
        end = pos + size
        if section == 2:  # import section
            count, pos = _leb(module, pos)
            for _ in range(count):
                for _name in range(2):
                    n, pos = _leb(module, pos)
                    pos += n
                kind, pos = module[pos], pos + 1
                if kind == 0:      # func: type index
                    _, pos = _leb(module, pos)
                elif kind == 1:    # table: reftype + limits
                    pos += 1
                    flags, pos = _leb(module, pos)
                    _, pos = _leb(module, pos)
                    if flags & 1:
                        _, pos = _leb(module, pos)
                elif kind == 2:    # memory: limits
                    flags, pos = _leb(module, pos)
                    initial, pos = _leb(module, pos)
                    maximum = None
                    if flags & 1:
                        maximum, pos = _leb(module, pos)
                    return initial, maximum
                elif kind == 3:    # global: valtype + mutability
                    pos += 2
                else:
                    raise ValueError(f"unknown import kind {kind}")
        pos = end
    raise ValueError("module imports no memory")

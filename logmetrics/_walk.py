"""The parse's compiled loops at run time: machine code loaded without numba, and its cache.

The loops themselves (the newline scan and the per-line walk) are numba source in
``_kernels``, compiled to functions of int64 arguments (addresses and sizes of arrays this
module owns). Importing numba and letting its
dispatcher load cached code cost ~0.8 s of every ingest (numba's import, then its typing and
target contexts, all holding the GIL): a quarter of a million-line ingest. So the first run
compiles them with numba (10-20 s, once) and keeps their object code in a cache file keyed by
the kernel source, the numba and llvmlite versions and the CPU; later runs map that object code
with llvmlite's JIT linker (~0.05 s, llvmlite's import included) and call it through ctypes,
which releases the GIL, so
``--jobs`` threads parse in parallel. The cache holds machine code, so it is only read from a
directory the running user owns and nobody else can write; a missing, stale or unusable cache
means compiling again, never a failure.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import logging
import os
import stat
import struct
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .formats import Literal, LogFormat, Optional_

# program op codes
_LIT, _LIT_OPT, _FIELD, _OPT_BEGIN, _OPT_END = 0, 1, 2, 3, 4
# ... and their common shapes, decided with fewer steps: a literal of 1-7 bytes (one masked word
# compare), a quoted field, a field ended by one ASCII stop byte
_LIT_WORD, _FIELD_QUOTED, _FIELD_STOP = 5, 6, 7
# field checks (what the regex demands of a field's text beyond its delimiters)
_CHK_NONE, _CHK_DIGITS, _CHK_SECONDS, _CHK_QUERY = 0, 1, 2, 3
# column kinds
_C_TEXT, _C_QUERY_Q, _C_STATUS, _C_INT, _C_REQUEST, _C_REQUEST_URI = 0, 1, 2, 3, 4, 5
# main time shapes
TIME_NONE, TIME_CLF, TIME_ISO = 0, 1, 2

_BIG = np.int64(1) << 60
_I64_MAX = np.int64(9223372036854775807)

#: Request-line columns, in the slot order of a request column's row.
REQUEST_PARTS = ("method", "protocol", "uri", "path", "query")

_TCHAR = np.zeros(256, np.bool_)  # RFC 9110 token characters (an HTTP method)
for _c in b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
    _TCHAR[_c] = True
_MONTHS = np.array([int.from_bytes(m.encode(), "little") for m in (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")],
    np.int64)  # fmt: skip



@dataclass(frozen=True)
class Program:
    """A format as the kernel's tables; columns are numbered into the output arrays.

    ``text``: hits column -> row of the text outputs; ``ints``: column -> row of the integer
    outputs; ``groups``: field group -> row of the span outputs (every field has one).
    """

    ops: np.ndarray  # (n_ops, 4) int64: code, a, b, c
    lits: np.ndarray  # uint8: literal bytes
    fields: np.ndarray  # (n_fields, 6) int64: quoted, eol, skip, stop offset, stop count, check
    stops: np.ndarray  # (n_stops, 5) int64: length, bytes...
    cols: np.ndarray  # (n_cols, 7) int64: kind, field, slots...
    time_field: int
    time_kind: int
    text: dict[str, int]
    ints: dict[str, int]
    groups: dict[str, int]


def program(fmt: LogFormat) -> Program:
    """Compile ``fmt``'s elements and columns into the kernel's tables."""
    groups = {f.group: i for i, f in enumerate(fmt.fields)}
    ops: list[tuple[int, int, int, int]] = []
    by_group = {f.group: f for f in fmt.fields}
    lits = bytearray()

    def emit(elements: tuple) -> None:
        for el in elements:
            if isinstance(el, Literal):
                raw = el.text.encode("utf-8")
                if el.optional:
                    assert len(raw) == 1
                    ops.append((_LIT_OPT, raw[0], 0, 0))
                elif len(raw) <= 7:
                    ops.append((_LIT_WORD, int.from_bytes(raw, "little"), len(raw), 0))
                else:
                    ops.append((_LIT, len(lits), len(raw), 0))
                    lits.extend(raw)
            elif isinstance(el, Optional_):
                first = el.elements[0]
                assert isinstance(first, Literal)
                at = len(ops)
                ops.append((_OPT_BEGIN, first.text.encode("utf-8")[0], -1, 0))
                emit(el.elements)
                ops[at] = (_OPT_BEGIN, ops[at][1], len(ops), 0)
                ops.append((_OPT_END, 0, 0, 0))
            else:
                f = by_group[el.group]
                g = groups[el.group]
                one = [s.encode("utf-8") for s in f.stops]
                if f.quoted:
                    ops.append((_FIELD_QUOTED, g, int(f.eol), 0))
                elif len(one) == 1 and len(one[0]) == 1 and f.skip == 0:
                    ops.append((_FIELD_STOP, g, int(f.eol), one[0][0]))
                else:
                    ops.append((_FIELD, g, 0, 0))

    emit(fmt.elements)
    stop_rows: list[list[int]] = []
    field_rows: list[tuple[int, ...]] = []
    for f in fmt.fields:
        check = _CHK_NONE
        if f.strict:
            check = {"status": _CHK_DIGITS, "int": _CHK_DIGITS, "seconds": _CHK_SECONDS,
                     "query_q": _CHK_QUERY}[f.kind]  # fmt: skip
        stops = [] if f.quoted else [s.encode("utf-8") for s in f.stops]
        field_rows.append((int(f.quoted), int(f.eol), f.skip, len(stop_rows), len(stops), check))
        for s in stops:
            stop_rows.append([len(s), *s, *([0] * (4 - len(s)))])

    text: dict[str, int] = {}
    ints: dict[str, int] = {}
    cols: list[tuple[int, ...]] = []

    def slot(name: str) -> int:
        return text.setdefault(name, len(text))

    for name, group in fmt.sources.items():
        f = fmt.field(group)
        g = groups[group]
        if f.kind == "text":
            cols.append((_C_TEXT, g, slot(name), 0, 0, 0, 0))
        elif f.kind == "query_q":
            cols.append((_C_QUERY_Q, g, slot(name), 0, 0, 0, 0))
        elif f.kind == "status":
            cols.append((_C_STATUS, g, 0, 0, 0, 0, 0))
        elif f.kind == "int":
            cols.append((_C_INT, g, ints.setdefault(name, len(ints)), 0, 0, 0, 0))
    for f in fmt.fields:
        if f.kind in ("request", "request_uri"):
            wanted = {c for c, g in fmt.sources.items() if g == f.group}
            if wanted:
                slots = [slot(p) if p in wanted else -1 for p in REQUEST_PARTS]
                kind = _C_REQUEST if f.kind == "request" else _C_REQUEST_URI
                cols.append((kind, groups[f.group], *slots))

    main = [fmt.field(g) for g in fmt.time_groups]
    main = [f for f in main if f.kind in ("time_clf", "time_iso")]
    time_field, time_kind = -1, TIME_NONE
    if main:
        time_field = groups[main[0].group]
        time_kind = TIME_CLF if main[0].kind == "time_clf" else TIME_ISO
    return Program(
        ops=np.array(ops, np.int64).reshape(-1, 4),
        lits=np.frombuffer(bytes(lits) or b"\0", np.uint8).copy(),
        fields=np.array(field_rows, np.int64).reshape(-1, 6),
        stops=np.array(stop_rows or [[0] * 5], np.int64).reshape(-1, 5),
        cols=np.array(cols or [(-1,) * 7], np.int64).reshape(-1, 7)[: len(cols)],
        time_field=time_field,
        time_kind=time_kind,
        text=text,
        ints=ints,
        groups=groups,
    )


def _pattern(shape: str) -> np.ndarray:
    """A fixed-width time shape for ``_shape``: ``D`` a digit, ``A``/``+`` any byte (checked
    elsewhere), anything else itself."""
    return np.array([48 if c == "D" else 0 if c in "A+" else ord(c) for c in shape], np.uint8)


_CLF = _pattern("DD/AAA/DDDD:DD:DD:DD +DDDD")
_ISO = _pattern("DDDD-DD-DDTDD:DD:DD+DD:DD")
_ISO_Z = _pattern("DDDD-DD-DDTDD:DD:DDZ")

_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)

#: The walk's arrays in the order of ``_kernels.walk_c``'s address table.
WALK_ARRAYS = (
    "buf", "a64", "ls", "le", "ops", "lits", "fields", "stops", "cols", "ok", "starts", "ends",
    "views", "valid", "esc", "ivals", "ivalid", "ts", "ts_ok", "status", "status_null",
    "status_ok", "clf", "iso", "iso_z", "months", "tchar", "masks", "pend", "linebs",
)  # fmt: skip


# --- the compiled code: cache, loading, compiling ------------------------------------------------

log = logging.getLogger(__name__)

#: entry point -> how many int64 arguments it takes (``_kernels.ENTRY_POINTS``)
_ARITY = {"count_newlines": 2, "scan": 6, "walk": 6}
#: symbols the object code may leave to the process (libc); anything else: not cached
_LIBC = frozenset({"memset", "memcpy", "memmove"})
_MAGIC = b"logmetrics-kernels 1\n"


def cache_dirs(package: Path, env: Mapping[str, str]) -> list[Path]:
    """Where the compiled code may be kept, best first: the first one private to the running
    user (``_private``) is used.

    ``LOGMETRICS_CACHE_DIR`` if set; ``__pycache__`` next to the code when the install is
    writable; the user's cache directory; a per-user directory under the system temp
    directory (a root-owned install run by a cron user with no home).
    """
    out = [Path(env["LOGMETRICS_CACHE_DIR"])] if env.get("LOGMETRICS_CACHE_DIR") else []
    pycache = package / "__pycache__"
    if os.access(pycache if pycache.exists() else package, os.W_OK):
        out.append(pycache)
    home = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or "/nonexistent", ".cache")
    base = Path(home)
    while not base.exists() and base.parent != base:
        base = base.parent
    if os.access(base, os.W_OK):
        out.append(Path(home) / "logmetrics")
    out.append(Path(tempfile.gettempdir()) / f"logmetrics-cache-{os.getuid()}")
    return out


def _private(directory: Path) -> bool:
    """Create ``directory`` if needed; whether it is ours and only we can write it."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == os.getuid()
        and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def undefined_symbols(obj: bytes) -> set[str]:
    """The symbols an ELF64 little-endian object file leaves undefined (ValueError otherwise)."""
    if obj[:6] != b"\x7fELF\x02\x01":
        raise ValueError("not a 64-bit little-endian ELF object")
    shoff = struct.unpack_from("<Q", obj, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]
    names: set[str] = set()
    for _, kind, _, _, offset, size, link, _, _, entsize in sections:
        if kind != 2:  # SHT_SYMTAB
            continue
        strings = sections[link][4]
        for at in range(offset, offset + size, entsize or 24):
            name, _, _, shndx, _, _ = struct.unpack_from("<IBBHQQ", obj, at)
            if shndx == 0 and name:  # SHN_UNDEF
                end = obj.index(b"\0", strings + name)
                names.add(obj[strings + name : end].decode("ascii", "replace"))
    return names


def _versions() -> str:
    """The compilers' identity: llvmlite's version, and numba's install (path, size and time
    of its files: reading its version through package metadata would cost ~30 ms a run)."""
    import importlib.util

    import llvmlite

    out = [f"llvmlite {llvmlite.__version__}"]
    spec = importlib.util.find_spec("numba")
    origin = spec.origin if spec is not None else None
    for name in ("__init__.py", "_version.py"):
        try:
            st = os.stat(Path(origin).with_name(name)) if origin else None
        except OSError:
            st = None
        out.append(f"numba/{name} {origin} {st.st_size if st else 0} {st.st_mtime_ns if st else 0}")
    return ", ".join(out)


def _cpu() -> tuple[str, str]:
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def _cache_key() -> str:
    """What the object code depends on: kernel source, compilers, CPU, this file's ABI."""
    source = (Path(__file__).parent / "_kernels.py").read_bytes()
    parts = [hashlib.sha256(source).hexdigest(), _versions(), *_cpu(), json.dumps(_ARITY)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


@dataclass
class _Code:
    """The entry points as ctypes functions, and what must stay alive while they run."""

    functions: dict[str, Callable[..., Any]]
    keep: list[Any]


def _bind(entries: Mapping[str, int], keep: list[Any]) -> _Code:
    """Callables for the entry points at these addresses (numba's calling convention:
    ``int32 f(int64* result, void** excinfo, int64 args...)``, 0 on success)."""
    functions: dict[str, Callable[..., Any]] = {}
    for name, n_args in _ARITY.items():
        if not entries.get(name):
            raise ValueError(f"no address for {name}")
        fn = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(ctypes.c_int64),
                              ctypes.POINTER(ctypes.c_void_p), *[ctypes.c_int64] * n_args)(
            entries[name]
        )  # fmt: skip
        functions[name] = functools.partial(_call, fn, name)
    return _Code(functions, keep)


def _call(fn: Any, name: str, *args: int) -> int:
    result, excinfo = ctypes.c_int64(0), ctypes.c_void_p(None)
    if fn(ctypes.byref(result), ctypes.byref(excinfo), *args) != 0:  # releases the GIL
        raise RuntimeError(f"the compiled {name} failed")  # it cannot raise: a broken build
    return result.value


def _machine() -> Any:
    """llvmlite's target machine for this CPU (the one numba compiles for)."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    cpu, features = _cpu()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=3, jit=True
    )


def _native_object(symbol: str, ir: str, machine: Any) -> bytes:
    """Object code of ``symbol`` and what it calls, from numba's final module for it.

    numba's module also holds its Python and C wrappers, which call into numba's runtime
    (not loadable without numba): everything ``symbol`` cannot reach is left out.
    """
    import llvmlite.binding as llvm

    module = llvm.parse_assembly(ir)
    defined = {fn.name: fn for fn in module.functions if not fn.is_declaration}
    reach, todo = {symbol}, [symbol]
    while todo:
        for block in defined[todo.pop()].blocks:
            for instr in block.instructions:
                for op in instr.operands:
                    if op.name in defined and op.name not in reach:
                        reach.add(op.name)
                        todo.append(op.name)
    for name, fn in defined.items():
        if name not in reach:
            fn.linkage = "available_externally"  # kept for the verifier, not emitted
    return bytes(machine.emit_object(module))


def _load(path: Path, key: str) -> _Code | None:
    """The cached object code mapped into this process, or None (absent, stale, unusable)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        if not data.startswith(_MAGIC):
            raise ValueError("not a kernels cache file")
        at = len(_MAGIC)
        (length,) = struct.unpack_from("<Q", data, at)
        header = json.loads(data[at + 8 : at + 8 + length])
        if header["key"] != key:
            raise ValueError("compiled for other sources, compilers or CPU")
        body = at + 8 + length
        if hashlib.sha256(data[body:]).hexdigest() != header["sha256"]:
            raise ValueError("damaged (checksum)")  # never hand LLVM a damaged object
        import llvmlite.binding as llvm

        keep: list[Any] = []
        addresses = {}
        for name, (symbol, start, size) in header["entries"].items():
            obj = data[body + start : body + start + size]
            if not undefined_symbols(obj) <= _LIBC:
                raise ValueError(f"{name}: needs symbols outside libc")
            # an engine owns (and frees) its module and target machine: one of each per engine
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _machine())
            engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            engine.finalize_object()
            addresses[name] = engine.get_function_address(symbol)
            keep.append(engine)
        return _bind(addresses, keep)
    except (ValueError, KeyError, TypeError, IndexError, struct.error, RuntimeError) as exc:
        log.info("%s: compiled parse code not used (%s); compiling it again", path, exc)
        return None


def _compile(path: Path | None, key: str) -> _Code:
    """Compile the kernels with numba (10-20 s) and keep their object code in ``path``."""
    log.info("compiling the parse code (once after installing or upgrading, 10-20 s)")
    from . import _kernels

    entries = {}
    for name, dispatcher in _kernels.ENTRY_POINTS.items():
        (cres,) = dispatcher.overloads.values()
        entries[name] = (cres.fndesc.mangled_name, cres.library)
    code = _bind({n: lib.get_pointer_to_function(sym) for n, (sym, lib) in entries.items()},
                 [_kernels.ENTRY_POINTS])  # fmt: skip
    if path is None:
        return code
    try:
        machine = _machine()
        blobs, index = [], {}
        offset = 0
        for name, (symbol, library) in entries.items():
            obj = _native_object(symbol, library.get_llvm_str(), machine)
            extra = undefined_symbols(obj) - _LIBC
            if extra:
                raise ValueError(f"{name} needs {', '.join(sorted(extra))}")
            index[name] = [symbol, offset, len(obj)]
            blobs.append(obj)
            offset += len(obj)
        body = b"".join(blobs)  # the CPU is part of the key; the loader targets the host's
        header = json.dumps({"key": key, "entries": index, "sha256": hashlib.sha256(body).hexdigest()})
        raw = _MAGIC + struct.pack("<Q", len(header)) + header.encode() + body
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    except (OSError, ValueError, IndexError, struct.error, RuntimeError) as exc:  # next run compiles
        log.warning("cannot keep the compiled parse code in %s: %s", path.parent, exc)
    return code


_CODE: _Code | None = None
_LOCK = threading.Lock()


def code() -> _Code:
    """The compiled entry points: from the cache, else compiled now (thread-safe, once)."""
    global _CODE
    if _CODE is None:
        with _LOCK:
            if _CODE is None:
                key = _cache_key()
                dirs = cache_dirs(Path(__file__).parent, os.environ)
                directory = next((d for d in dirs if _private(d)), None)
                if directory is None:
                    log.warning("no private cache directory (tried %s): compiling the parse "
                                "code every run", ", ".join(map(str, dirs)))  # fmt: skip
                path = directory / f"kernels-{key}.bin" if directory is not None else None
                _CODE = (_load(path, key) if path is not None else None) or _compile(path, key)
    return _CODE


def _address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def _checked(a: np.ndarray, dtype: Any) -> np.ndarray:
    """``a`` as the kernels read it: C-contiguous, of ``dtype`` (a copy only if it is not)."""
    if a.dtype != dtype or not a.flags.c_contiguous:
        return np.ascontiguousarray(a, dtype)
    return a


# --- running it -------------------------------------------------------------------------------


def scan(buf: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newline positions in ``buf[:n]``, the (sorted) indexes of the lines that may need
    cleaning (a byte >= 0x80, maybe not UTF-8, or a C0 control other than tab, CR, LF), and
    for each line (one more than the newlines) whether it holds a backslash."""
    f = code().functions
    buf = _checked(buf, np.uint8)
    count = f["count_newlines"](_address(buf), n)
    nl = np.empty(count, np.int64)
    odd = np.empty(count + 1, np.int64)
    bsl = np.zeros(count + 1, np.bool_)
    m = f["scan"](_address(buf), n, _address(nl), _address(odd), _address(bsl), count)
    return nl, odd[:m], bsl


def count_newlines(data: Any) -> int:
    """How many newlines a bytes-like object holds (without the GIL, no temporaries)."""
    buf = np.frombuffer(data, np.uint8)
    if not len(buf):
        return 0
    return int(code().functions["count_newlines"](_address(buf), len(buf)))


@dataclass
class Walked:
    """The walk's outputs for n lines (rows of 2-D arrays follow ``Program``'s numbering)."""

    ok: np.ndarray  # (n,) bool: the line matches the format
    starts: np.ndarray  # (groups, n) int64: span of each field, -1 when absent or no match
    ends: np.ndarray
    views: np.ndarray  # (text, n, 2) uint64: Arrow string views into the buffer
    valid: np.ndarray  # (text, n) bool: the value is not null
    esc: np.ndarray  # (text, n) bool: the value holds a backslash (to unescape)
    ivals: np.ndarray  # (ints, n) int64
    ivalid: np.ndarray  # (ints, n) bool
    ts: np.ndarray  # (n,) int64 µs UTC (CLF / ISO 8601 times only)
    ts_ok: np.ndarray
    status: np.ndarray  # (n,) int64
    status_null: np.ndarray
    status_ok: np.ndarray  # a status of more than 3 digits is not



def run(
    prog: Program, buf: np.ndarray, a64: np.ndarray, ls: np.ndarray, le: np.ndarray, *,
    line_escapes: np.ndarray,
    threads: int = 1,
) -> Walked:  # fmt: skip
    """Walk every line [ls, le) of ``buf``; ``threads`` > 1 splits the lines between threads.

    ``a64`` views ``buf`` as words and must cover every line plus one word (``parse._Mem``).
    ``line_escapes`` (one per line) says which lines hold a backslash.
    """
    walk = code().functions["walk"]
    n = len(ls)
    g, t, k = len(prog.groups), len(prog.text), len(prog.ints)
    w = Walked(
        ok=np.zeros(n, np.bool_),
        starts=np.full((g, n), -1, np.int64),  # -1: absent; the walk writes those it finds
        ends=np.full((g, n), -1, np.int64),
        views=np.zeros((t, n, 2), np.uint64),
        valid=np.zeros((t, n), np.bool_),
        esc=np.zeros((t, n), np.bool_),
        ivals=np.zeros((k, n), np.int64),
        ivalid=np.zeros((k, n), np.bool_),
        ts=np.zeros(n, np.int64),
        ts_ok=np.zeros(n, np.bool_),
        status=np.zeros(n, np.int64),
        status_null=np.ones(n, np.bool_),
        status_ok=np.ones(n, np.bool_),
    )
    inputs = {
        "buf": _checked(buf, np.uint8), "a64": _checked(a64, np.uint64),
        "ls": _checked(ls, np.int64), "le": _checked(le, np.int64),
        "ops": prog.ops, "lits": prog.lits, "fields": prog.fields, "stops": prog.stops,
        "cols": prog.cols, "clf": _CLF, "iso": _ISO, "iso_z": _ISO_Z, "months": _MONTHS,
        "tchar": _TCHAR, "masks": _MASKS, "linebs": _checked(line_escapes, np.bool_), **vars(w),
    }  # fmt: skip

    def part(i0: int, i1: int) -> None:
        # scratch: the text values of the line being walked (column, span)
        arrays = {**inputs, "pend": np.empty((t + 5, 3), np.int64)}
        table = [arrays[name] for name in WALK_ARRAYS]
        addresses = np.array([_address(a) for a in table], np.int64)
        dims = np.array([(*a.shape, 0, 0, 0)[:3] for a in table], np.int64)
        walk(_address(addresses), _address(dims), i0, i1, prog.time_field, prog.time_kind)

    if threads > 1 and n >= 2 * threads:
        from concurrent.futures import ThreadPoolExecutor

        cuts = [n * j // threads for j in range(threads + 1)]
        with ThreadPoolExecutor(max_workers=threads) as pool:  # the kernel releases the GIL
            list(pool.map(part, cuts[:-1], cuts[1:]))
    else:
        part(0, n)
    return w

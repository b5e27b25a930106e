"""Which globals a pickle may import: default deny.

`ALLOW` is derived from `torch/_weights_only_unpickler.py` (`_get_allowed_globals`, torch 2.13): what
`torch.load(weights_only=True)` accepts without `add_safe_globals`, plus the numpy reconstruction functions
and joblib's array wrapper, whose use the scanner checks structurally (see `pickle.py`). Every other global is
"suspicious"; `DENY` only decides when a global is bad enough to call the file "unsafe" (a known way to run
code, touch files or the network). Names are compared after CPython's py2 → py3 renames (`_compat_pickle`),
exactly as both `pickle.Unpickler.find_class` and torch's unpickler do, so `__builtin__.eval` is
`builtins.eval`.
"""

from __future__ import annotations

import _compat_pickle
import re

INNOCUOUS, SUSPICIOUS, DANGEROUS = "innocuous", "suspicious", "dangerous"

_STORAGE_NAMES = [
    "Double",
    "Float",
    "Half",
    "BFloat16",
    "Long",
    "Int",
    "Short",
    "Char",
    "Byte",
    "Bool",
    "ComplexDouble",
    "ComplexFloat",
    "QUInt8",
    "QInt8",
    "QInt32",
    "QUInt4x2",
    "QUInt2x4",
]
_TENSOR_NAMES = ["Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool"]

# torch dtypes: `str(t)` for t in torch.storage._dtype_to_storage_type_map(), _new_dtypes(), uint1-7, int1-7
_TORCH_DTYPES = [
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
    "complex128",
    "complex64",
    "complex32",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
    "uint16",
    "uint32",
    "uint64",
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e5m2fnuz",
    "float8_e4m3fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "uint1",
    "uint2",
    "uint3",
    "uint4",
    "uint5",
    "uint6",
    "uint7",
    "int1",
    "int2",
    "int3",
    "int4",
    "int5",
    "int6",
    "int7",
]

# Element size in bytes of each legacy storage class: needed to walk the raw storages of a legacy torch file.
STORAGE_ELEMENT_SIZE = {
    "Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1, "Byte": 1,
    "Bool": 1, "ComplexDouble": 16, "ComplexFloat": 8, "QUInt8": 1, "QInt8": 1, "QInt32": 4, "QUInt4x2": 1,
    "QUInt2x4": 1,
}  # fmt: skip


def _allow() -> dict[tuple[str, str], str]:
    """(module, name) → why loading it cannot run code of the file's choosing."""
    why: dict[tuple[str, str], str] = {
        # Plain containers: construct a dict subclass from items; torch allows both by default.
        ("collections", "OrderedDict"): "torch default allowlist: the type of every state_dict",
        ("collections", "Counter"): "torch default allowlist: a dict subclass, no code",
        # builtins torch allows: value types whose constructors only copy data. Nothing else from builtins.
        ("builtins", "set"): "torch default allowlist: pickled sets (protocol < 4)",
        ("builtins", "bytearray"): "torch default allowlist: pickled bytearrays",
        ("builtins", "complex"): "torch default allowlist: pickled complex numbers",
        ("_codecs", "encode"): "torch default allowlist: how protocol 2 pickles `bytes` (str → bytes)",
        # Tensor types and metadata objects: constructors that only build tensors/sizes/devices from data.
        ("torch.nn.parameter", "Parameter"): "torch default allowlist: wraps a tensor",
        ("torch", "Tensor"): "torch default allowlist",
        ("torch", "Size"): "torch default allowlist: a tuple of ints",
        ("torch", "device"): "torch default allowlist: parses a device string",
        ("torch.serialization", "_get_layout"): "torch default allowlist: looks up a torch.layout by name",
        ("torch.storage", "TypedStorage"): "torch default allowlist: storage type marker",
        ("torch.storage", "UntypedStorage"): "torch default allowlist: storage type marker",
        ("torch", "UntypedStorage"): "torch exports torch.storage.UntypedStorage under this name",
        # Rebuild functions (`_tensor_rebuild_functions()`): rebuild a tensor from a storage the loader
        # provides through persistent_load plus sizes/strides; they call nothing taken from the file.
        ("torch._tensor", "_rebuild_from_type_v2"): (
            "torch default allowlist: calls a rebuild function that itself had to be an allowed global"
        ),
    }
    for fn in [
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_qtensor",
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_sparse_tensor",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_nested_tensor",
        "_rebuild_wrapper_subclass",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_device_tensor_from_cpu_tensor",
    ]:
        why[("torch._utils", fn)] = "torch default allowlist (_tensor_rebuild_functions): rebuilds a tensor"
    for n in _STORAGE_NAMES:
        # torch wraps legacy storage classes in serialization.StorageType: only a dtype marker is built.
        why[("torch", f"{n}Storage")] = (
            "torch default allowlist: legacy storage class, used as a dtype marker"
        )
        why[("torch.cuda", f"{n}Storage")] = "torch default allowlist: legacy storage class (CUDA spelling)"
    for n in _TENSOR_NAMES:
        why[("torch", f"{n}Tensor")] = "torch default allowlist: legacy tensor class (torch._tensor_classes)"
        why[("torch.cuda", f"{n}Tensor")] = "torch default allowlist: legacy tensor class"
        if n != "Bool":
            why[("torch.sparse", f"{n}Tensor")] = "torch default allowlist: legacy sparse tensor class"
            why[("torch.cuda.sparse", f"{n}Tensor")] = "torch default allowlist: legacy sparse tensor class"
    for d in _TORCH_DTYPES:
        why[("torch", d)] = "torch default allowlist: a dtype constant"
    for q in ["per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric"]:
        why[("torch", q)] = "torch default allowlist: a quantization scheme constant"
    why[("torch", "per_channel_affine_float_qparams")] = "torch default allowlist: a quantization scheme"
    # numpy: not in torch's default list (torch cannot vouch for numpy), but picklescan and fickling allow
    # them: `_reconstruct(ndarray, shape, typecode)` makes an empty array that BUILD fills from bytes;
    # `dtype(str)` parses a type code; `scalar(dtype, bytes)` makes one number. The scanner checks the
    # arguments: a dtype must be a literal type code, and object dtypes (arrays of pickled Python objects)
    # make the file suspicious.
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        why[(mod, "_reconstruct")] = "numpy array reconstruction (picklescan/fickling allowlists)"
        why[(mod, "scalar")] = "numpy scalar from a dtype and raw bytes (RNG/optimizer states)"
    why[("numpy", "ndarray")] = "numpy array type, passed to _reconstruct (picklescan/fickling allowlists)"
    why[("numpy", "dtype")] = "numpy dtype from a literal type code (picklescan/fickling allowlists)"
    # joblib: the wrapper's loader reads raw array bytes that follow it in the stream (or, for object arrays,
    # an inline pickle, which this scanner scans like any other).
    why[("joblib.numpy_pickle", "NumpyArrayWrapper")] = "joblib raw-array marker; the array bytes are skipped"
    return why


ALLOW = _allow()

# Modules (and all their submodules) whose import alone gives a way to run commands, code, or reach files and
# the network: union of picklescan 1.0.5 `_unsafe_globals` (whole-module entries), ModelScan CRITICAL/HIGH and
# the hub's additions from the reference.
DENY_MODULES = frozenset(
    [
        "os",
        "posix",
        "nt",
        "sys",
        "subprocess",
        "_posixsubprocess",
        "socket",
        "_socket",
        "shutil",
        "runpy",
        "pty",
        "pdb",
        "bdb",
        "pickle",
        "_pickle",
        "cPickle",
        "pip",
        "ctypes",
        "_ctypes",
        "cffi",
        "asyncio",
        "aiohttp",
        "httplib",
        "http",
        "urllib",
        "urllib2",
        "urllib3",
        "requests",
        "httpx",
        "ssl",
        "uuid",
        "venv",
        "webbrowser",
        "timeit",
        "cProfile",
        "profile",
        "pydoc",
        "test",
        "commands",
        "distutils",
        "setuptools",
        "numpy.f2py",
        "numpy.testing",
        "numpy.distutils",
        "_osx_support",
        "_aix_support",
        "_pyrepl",
        "importlib",
        "imp",
        "marshal",
        "dill",
        "cloudpickle",
        "code",
        "codeop",
        "multiprocessing",
        "concurrent",
        "tempfile",
        "ftplib",
        "smtplib",
        "telnetlib",
        "imaplib",
        "poplib",
        "nntplib",
        "xmlrpc",
        "socketserver",
        "idlelib",
        "lib2to3",
        "ensurepip",
        "trace",
        "doctest",
        "zipimport",
        "pkgutil",
        "signal",
        "platform",
        "shelve",
        "dbm",
        "sqlite3",
        "_sqlite3",
        "logging.config",
        "ntpath",
        "posixpath",
        "genericpath",
        "glob",
        "fileinput",
        "mmap",
        "resource",
        "fcntl",
        "termios",
        "tty",
        "select",
        "selectors",
        "_thread",
        "threading",
        "sched",
        "torch.hub",
        "torch.jit",
        "torch._inductor",
        "torch._dynamo",
        "torch.utils.cpp_extension",
        "torch.utils.collect_env",
        "torch.package",
        "torch._C",
        "torch.ops",
        "torch.library",
        "torch.distributed.rpc",
        "torch.multiprocessing",
        "torch.testing",
        "paramiko",
        "fabric",
        "jinja2",
        "mako",
        "yaml",
    ]
)

# Single globals that run code, evaluate strings, import, open files or reach arbitrary attributes.
DENY_NAMES = frozenset(
    [
        "builtins.eval",
        "builtins.exec",
        "builtins.execfile",
        "builtins.compile",
        "builtins.getattr",
        "builtins.setattr",
        "builtins.delattr",
        "builtins.apply",
        "builtins.open",
        "builtins.breakpoint",
        "builtins.__import__",
        "builtins.globals",
        "builtins.locals",
        "builtins.vars",
        "builtins.input",
        "builtins.help",
        "builtins.type",
        "builtins.object",
        "builtins.reload",
        "builtins.exit",
        "builtins.quit",
        "types.CodeType",
        "types.FunctionType",
        "types.LambdaType",
        "types.MethodType",
        "types.ModuleType",
        "types.new_class",
        "functools.partial",
        "functools.reduce",
        "functools.partialmethod",
        "functools.singledispatch",
        "operator.attrgetter",
        "operator.itemgetter",
        "operator.methodcaller",
        "operator.call",
        "operator.getitem",
        "_operator.attrgetter",
        "_operator.itemgetter",
        "_operator.methodcaller",
        "_operator.call",
        "_operator.getitem",
        "io.open",
        "io.FileIO",
        "io.open_code",
        "_io.open",
        "_io.FileIO",
        "_io.open_code",
        "codecs.open",
        "codecs.getreader",
        "logging.FileHandler",
        "logging.handlers.SocketHandler",
        "logging.handlers.SysLogHandler",
        "torch.load",
        "torch.serialization.load",
        "torch.storage._load_from_bytes",
        "torch.serialization._load",
        "numpy.load",
        "numpy.loadtxt",
        "numpy.fromfile",
        "numpy.lib.npyio.load",
        "numpy.save",
        "numpy.tofile",
        "joblib.load",
        "joblib.numpy_pickle.load",
        "joblib.numpy_pickle.NDArrayWrapper",
        "joblib.numpy_pickle.ZNDArrayWrapper",
        "code.InteractiveInterpreter.runcode",
        "code.InteractiveConsole.push",
    ]
)

# Attribute names that turn any object into a path to the interpreter's internals.
_DANGEROUS_ATTRS = frozenset(
    [
        "eval",
        "exec",
        "compile",
        "getattr",
        "setattr",
        "__import__",
        "system",
        "popen",
        "spawn",
        "execv",
        "execve",
        "execl",
        "fork",
        "open",
        "load",
        "loads",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "run",
        "call",
        "check_output",
        "Popen",
    ]
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def canonical(module: str, name: str) -> tuple[str, str]:
    """Apply CPython's py2 → py3 renames, as `find_class` does for protocol < 3 (and torch always)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def classify(module: str, name: str) -> tuple[str, str]:
    """(safety, reason) for one imported global, after renaming."""
    module, name = canonical(module, name)
    if (module, name) in ALLOW:
        return INNOCUOUS, ALLOW[(module, name)]
    parts = module.split(".") + name.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in DENY_MODULES:
            return DANGEROUS, f"the module {prefix} can run commands, code or reach files and the network"
        if prefix in DENY_NAMES:
            return DANGEROUS, f"{prefix} can run code or reach files"
    name_parts = name.split(".")
    if len(name_parts) > 1:
        # Protocol 4 resolves dotted names attribute by attribute: `torch.serialization` + `os.system` is
        # os.system. Any dunder, denied module or code-running attribute along the path is an escape.
        for part in name_parts:
            if part.startswith("__") or part in _DANGEROUS_ATTRS or part in DENY_MODULES:
                return DANGEROUS, f"the dotted name {name!r} reaches {part!r} through attribute lookup"
    if name.startswith("__") and name.endswith("__"):
        return DANGEROUS, f"{name} is an interpreter internal"
    if not _IDENT.match(module) or not _IDENT.match(name):
        return SUSPICIOUS, "not a valid Python module or attribute name"
    return SUSPICIOUS, "not on the allowlist of globals a weights file needs"

"""Dependencies between the hub's layers point down only (docs: architecture, "Layers").

Every `import` in every module under src/openmodelhub is read from the AST, including imports inside
functions and under `if TYPE_CHECKING:`, so a lazy import cannot slip past.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import openmodelhub

PACKAGE_DIR = Path(openmodelhub.__file__).parent
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports_of(path: Path) -> list[Import]:
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                assert node.module is not None
                target = node.module
            # `from openmodelhub import services` imports the submodule `openmodelhub.services`
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.append(Import(module, candidate if _is_module(candidate) else target, node.lineno))
    return found


def _is_module(dotted: str) -> bool:
    if not dotted.startswith("openmodelhub."):
        return False
    rel = Path(*dotted.split(".")[1:])
    return (PACKAGE_DIR / rel).with_suffix(".py").is_file() or (PACKAGE_DIR / rel / "__init__.py").is_file()


def _all_imports() -> list[Import]:
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    return [imp for f in files for imp in _imports_of(f)]


IMPORTS = _all_imports()


def _layer(dotted: str) -> str | None:
    """'protocol', 'services', … for a module of the hub; None for anything else."""
    parts = dotted.split(".")
    if parts[0] != "openmodelhub":
        return None
    return parts[1] if len(parts) > 1 else "openmodelhub"


def _top(dotted: str) -> str:
    return dotted.split(".")[0]


def _violations(layer: str, allowed: set[str] | None = None, forbidden: set[str] | None = None) -> list[str]:
    """Imports from `layer` into hub layers outside `allowed` (or inside `forbidden`)."""
    bad = []
    for imp in IMPORTS:
        if _layer(imp.module) != layer:
            continue
        target = _layer(imp.target)
        if target is None:
            continue
        if (allowed is not None and target not in allowed) or (forbidden is not None and target in forbidden):
            bad.append(str(imp))
    return bad


def _third_party_violations(layers: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return [str(i) for i in IMPORTS if _layer(i.module) in layers and _top(i.target) in forbidden]


# -- the walker sees what it must ----------------------------------------------------------------------------


def test_the_walk_covers_every_layer() -> None:
    modules = {imp.module for imp in IMPORTS}
    for layer in ("protocol", "storage", "db", "jobs", "services", "api", "cli"):
        assert any(_layer(m) == layer for m in modules), f"no module of {layer} was read"
    # a few edges known to exist: if these vanish, the walker is broken, not the code clean
    edges = {(i.module, i.target) for i in IMPORTS}
    assert ("openmodelhub.services.commits", "openmodelhub.services.ndjson") in edges
    assert any(m == "openmodelhub.storage.local" and _layer(t) == "protocol" for m, t in edges)
    assert any(_layer(m) == "api" and _top(t) == "fastapi" for m, t in edges)


def test_relative_imports_are_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "openmodelhub"
    (pkg / "services").mkdir(parents=True)
    (pkg / "protocol").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "services" / "__init__.py").write_text("from . import x\nfrom .. import protocol\n")
    (pkg / "services" / "x.py").write_text("from .y import z\nfrom ..protocol.names import a\n")
    (pkg / "services" / "y.py").write_text("")
    (pkg / "protocol" / "__init__.py").write_text("")
    (pkg / "protocol" / "names.py").write_text("")
    monkeypatch.setattr(f"{__name__}.PACKAGE_DIR", pkg)
    assert [i.target for i in _imports_of(pkg / "services" / "__init__.py")] == [
        "openmodelhub.services.x",
        "openmodelhub.protocol",
    ]
    assert [i.target for i in _imports_of(pkg / "services" / "x.py")] == [
        "openmodelhub.services.y",
        "openmodelhub.protocol.names",
    ]


# -- the rules -----------------------------------------------------------------------------------------------


def test_protocol_imports_only_protocol() -> None:
    assert _violations("protocol", allowed={"protocol"}) == []
    assert _third_party_violations({"protocol"}, (*WEB_FRAMEWORKS, "sqlalchemy", "alembic")) == []


def test_storage_imports_only_protocol_and_storage() -> None:
    assert _violations("storage", allowed={"protocol", "storage"}) == []
    assert _third_party_violations({"storage"}, (*WEB_FRAMEWORKS, "sqlalchemy", "alembic")) == []


def test_db_imports_only_db_and_protocol() -> None:
    assert _violations("db", allowed={"db", "protocol"}) == []
    assert _third_party_violations({"db"}, WEB_FRAMEWORKS) == []


def test_job_engines_know_nothing_of_the_hub() -> None:
    # Engines run named functions with a context; what the hub's jobs do is services/background.py.
    assert _violations("jobs", allowed={"jobs", "settings", "protocol"}) == []
    assert _third_party_violations({"jobs"}, (*WEB_FRAMEWORKS, "sqlalchemy", "alembic")) == []


def test_only_the_jobs_layer_talks_to_the_job_broker() -> None:
    broker = ("dramatiq", "pika")
    assert [str(i) for i in IMPORTS if _top(i.target) in broker and _layer(i.module) != "jobs"] == []


def test_services_choose_a_job_engine_only_through_the_factory() -> None:
    engines = {"openmodelhub.jobs.embedded", "openmodelhub.jobs.dramatiq_engine"}
    assert [str(i) for i in IMPORTS if _layer(i.module) == "services" and i.target in engines] == []


def test_settings_import_no_layer_above_protocol() -> None:
    assert _violations("settings", allowed={"protocol"}) == []
    assert _third_party_violations({"settings"}, WEB_FRAMEWORKS) == []


def test_services_know_nothing_of_http_or_entry_points() -> None:
    assert _violations("services", forbidden={"api", "cli", "web", "demo"}) == []
    assert _third_party_violations({"services"}, WEB_FRAMEWORKS) == []


def test_api_does_not_import_cli() -> None:
    assert _violations("api", forbidden={"cli", "demo"}) == []


def test_web_does_not_import_cli() -> None:
    assert _violations("web", forbidden={"cli", "demo"}) == []


def test_web_pages_call_services_not_storage_or_sql() -> None:
    # Pages call services; from the API layer only the one error mapping and the raw-path parser, from db only
    # the model classes services return (for type hints).
    assert _violations("web", allowed={"web", "services", "protocol", "settings", "api", "db"}) == []
    shared = {"openmodelhub.api.errors", "openmodelhub.api.rawpath", "openmodelhub.db.models"}
    reached = [i for i in IMPORTS if _layer(i.module) == "web" and _layer(i.target) in ("api", "db")]
    assert [str(i) for i in reached if i.target not in shared] == []
    assert _third_party_violations({"web"}, ("sqlalchemy", "alembic", "boto3")) == []
    assert any(_layer(i.module) == "web" for i in IMPORTS), "no module of web was read"


def test_cli_may_import_api_but_nothing_imports_cli_except_entry_points() -> None:
    importers = {_layer(i.module) for i in IMPORTS if _layer(i.target) == "cli"}
    assert importers <= {"cli", "demo"}


def test_scanners_are_pure_functions() -> None:
    assert _violations("scanners", allowed={"scanners", "protocol"}) == []
    assert _third_party_violations({"scanners"}, (*WEB_FRAMEWORKS, "sqlalchemy", "alembic", "torch")) == []

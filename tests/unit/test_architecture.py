"""Rules of the codebase that a reviewer should not have to remember."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {
    "pressroom_shared": REPO / "shared/src/pressroom_shared",
    "pressroom_intake": REPO / "services/intake/src/pressroom_intake",
    "pressroom_workers": REPO / "services/workers/src/pressroom_workers",
    "pressroom_cli": REPO / "services/cli/src/pressroom_cli",
}
# Imports go one way: services → pressroom_shared; no service imports another.
ALLOWED = {
    "pressroom_shared": {"pressroom_shared"},
    "pressroom_intake": {"pressroom_intake", "pressroom_shared"},
    "pressroom_workers": {"pressroom_workers", "pressroom_shared"},
    "pressroom_cli": {"pressroom_cli", "pressroom_shared"},
}


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if n.startswith("pressroom") or n == "shared"}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_imports_go_one_way(package: str) -> None:
    for path in PACKAGES[package].rglob("*.py"):
        bad = imported_packages(path) - ALLOWED[package]
        assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


# config.py reads the environment; the supervisor hands it on, untouched, to its children.
ENVIRONMENT_READERS = {
    PACKAGES["pressroom_shared"] / "config.py",
    PACKAGES["pressroom_cli"] / "main.py",
}


def test_only_the_settings_module_reads_the_environment() -> None:
    for root in PACKAGES.values():
        for path in root.rglob("*.py"):
            if path in ENVIRONMENT_READERS:
                continue
            text = path.read_text(encoding="utf-8")
            where = path.relative_to(REPO)
            assert "os.environ" not in text, f"{where} reads the environment: take a Settings"
            assert "getenv" not in text, f"{where} reads the environment: take a Settings"


def test_there_is_no_bare_shared_package() -> None:
    assert not (REPO / "shared" / "__init__.py").exists()
    assert not (REPO / "shared" / "src" / "shared").exists()


# What anyone may reach under /ops: the login form, logging out, and the console's own
# script and stylesheet. Every other console route must name its scope.
OPS_PUBLIC = {"console.login", "console.login_post", "console.logout", "console.static"}


def test_every_v1_and_ops_route_requires_a_scope(tmp_path: Path) -> None:
    from pressroom_intake import create_app
    from pressroom_shared.config import Settings

    app = create_app(Settings(var_dir=tmp_path, redis_url="redis://127.0.0.1:1/0"))
    checked = {"/v1/": 0, "/ops": 0}
    for rule in app.url_map.iter_rules():
        if rule.rule == "/v1/openapi.json":
            continue
        view = app.view_functions[rule.endpoint]
        if rule.rule.startswith("/ops"):
            if rule.endpoint in OPS_PUBLIC:
                continue
            assert getattr(view, "_pressroom_scope", None) == "operate", f"{rule.rule} has no scope"
            checked["/ops"] += 1
        elif rule.rule.startswith("/v1/"):
            view_class = getattr(view, "view_class", None)
            assert view_class is not None, rule.rule
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                handler = getattr(view_class, method.lower())
                assert getattr(handler, "_pressroom_scope", None), (
                    f"{method} {rule.rule} has no scope"
                )
                checked["/v1/"] += 1
    assert checked["/v1/"] >= 3
    assert checked["/ops"] >= 10

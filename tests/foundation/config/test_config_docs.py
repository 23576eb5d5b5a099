"""The README's configuration reference is exactly what the code renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.config import docs as config_docs
from foundation.config.schema import build_schema, schema_fields_match_model
from tests.support.paths import REPO

README = REPO / "README.md"


def test_readme_reference_is_up_to_date() -> None:
    section = config_docs.current(README.read_text(encoding="utf-8"))
    assert section, "README.md lacks the configuration reference markers"
    assert section == config_docs.render(), (
        "README's configuration reference is stale: run `.venv/bin/python -m foundation.config.docs --write README.md`")


def test_schema_and_dataclasses_agree() -> None:
    assert schema_fields_match_model(build_schema(Path("."))) == []


def test_every_field_has_a_meaning_and_every_key_is_listed() -> None:
    rendered = config_docs.render()
    for line in rendered.splitlines():
        if line.startswith("| `"):
            assert line.rstrip().endswith("|") and not line.endswith("|  |"), line
    for key in ("`network.nat.backend`", "`nodes[].client_id`", "`web.admin_password_hash`", "`kubernetes.token_ttl`"):
        assert key in rendered


def test_write_replaces_only_the_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{config_docs.START}\nold text\n{config_docs.END}\n\nafter\n")
    assert config_docs.main(["--write", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert config_docs.current(text) == config_docs.render() and "old text" not in text


def test_write_refuses_a_readme_without_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    with pytest.raises(ValueError, match="markers"):
        config_docs.main(["--write", str(readme)])

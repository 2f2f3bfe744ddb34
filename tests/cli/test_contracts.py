"""Contract tests: every command and setting is documented; every error has the same shape."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from clearland.cli.main import app
from clearland.errors import ClearlandError
from clearland.settings import ApiSettings, ImportSettings, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _commands(group: typer.Typer, prefix: str = "") -> list[str]:
    click_group = typer.main.get_command(group)
    names = []
    for name, command in click_group.commands.items():  # type: ignore[attr-defined]
        if hasattr(command, "commands"):
            names += [f"{prefix}{name} {sub}" for sub in command.commands]
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_command_is_in_docs_cli_md():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [c for c in _commands(app) if f"clearland {c}" not in text]
    assert missing == []


def test_every_setting_is_documented():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    names = [f"CLEARLAND_{n.upper()}" for n in Settings.model_fields if n not in ("imports", "api")]
    names += [f"CLEARLAND_IMPORT_{n.upper()}" for n in ImportSettings.model_fields]
    names += [f"CLEARLAND_API_{n.upper()}" for n in ApiSettings.model_fields]
    assert [n for n in names if n not in text] == []


def test_every_error_class_has_a_code_and_the_same_shape():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    codes = set()
    for cls in [ClearlandError, *subclasses(ClearlandError)]:
        error = cls("one line", detail=[{"file": "x"}])
        assert set(error.to_dict()) == {"error", "message", "detail"}
        assert re.fullmatch(r"[a-z-]+", error.code)
        codes.add(error.code)
    assert len(codes) == len([ClearlandError, *subclasses(ClearlandError)])

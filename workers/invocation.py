"""What every command shares for one invocation: settings with logging, consoles, error output."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from pipeline.errors import FinsentError
from pipeline.settings import Settings, load_settings
from workers.logs import configure_logging

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    """Settings for this invocation, with logging configured from them."""
    loaded = load_settings()
    configure_logging(loaded.log_level, loaded.log_format)
    return loaded


def friendly_errors(fn: F) -> F:
    """Print a FinsentError as one readable line and exit 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FinsentError as e:
            err_console.print(f"[bold red]error:[/] {escape(str(e))}")
            raise typer.Exit(2) from e

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature

"""What every command shares for one invocation: settings with logging, consoles, error output."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from pipeline.boundary import explain, known_secrets, mask_secrets
from pipeline.settings import Settings, load_settings
from workers.logs import configure_logging

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
_loaded: list[Settings] = []  # this invocation's settings, once read: the boundary names them


def settings() -> Settings:
    """Settings for this invocation, with logging configured from them."""
    loaded = load_settings()
    configure_logging(loaded.log_level, loaded.log_format)
    _loaded[:] = [loaded]
    return loaded


def report_failure(error: BaseException) -> int | None:
    """Print an expected failure as one masked line and return its exit code; None for a bug."""
    current = _loaded[0] if _loaded else None
    explained = explain(error, current)
    if explained is None:
        return None
    line = mask_secrets(str(explained), known_secrets(current))
    err_console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
    return explained.exit_code


def run_guarded(main: Callable[[], object]) -> None:
    """Run a process's entry point behind the boundary: the last place an error is caught."""
    try:
        main()
    except Exception as e:
        code = report_failure(e)
        if code is None:
            raise
        raise SystemExit(code) from None


class GuardedTyper(typer.Typer):
    """A Typer app whose every run, however started (`finsent`, `python -m`), goes through
    the error boundary; and whose help shows a flag without a `<bool>` type."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        command = typer.main.get_command(self)
        _untyped_flags(command)
        run_guarded(lambda: command(*args, **kwargs))


def _untyped_flags(command: Any) -> None:
    # --help too: the command makes (and keeps) its help option on first asking.
    help_option = command.get_help_option(typer.Context(command))
    for param in [*getattr(command, "params", []), help_option]:
        if getattr(param, "is_bool_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _untyped_flags(sub)


def friendly_errors(fn: F) -> F:
    """The error boundary of a command: an expected failure is one line and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            code = report_failure(e)
            if code is None:
                raise
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature

"""``translate plugins``: what is installed, and which plugins are broken (with their error)."""

from __future__ import annotations

import click

from ..errors import PluginError


@click.command()
@click.option("--check/--no-check", default=True, show_default=True,
              help="import each plugin to show its description and catch broken ones")
def plugins(check: bool) -> None:
    """List installed plugins: name, version, distribution, description; broken ones marked."""
    from ..registry import DISABLE_ENV, disabled_names, discover

    found = discover()
    if not found:
        click.echo("no plugins installed")
    broken = 0
    for name, info in found.items():
        description, status = "", ""
        if check:
            try:
                description = info.load().description
            except PluginError as exc:
                status, description = "BROKEN ", str(exc)
                broken += 1
        click.echo(f"{status}{name:<12} {info.version:<10} {info.distribution:<28} {description}")
    for name in sorted(disabled_names()):
        click.echo(f"disabled {name} (by {DISABLE_ENV})")
    if broken:
        click.echo(f"{broken} broken plugin(s); the others work normally", err=True)


@click.group("plugin")
def plugin_group() -> None:
    """Tools for plugin authors."""


@plugin_group.command("new")
@click.argument("name")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def new(name: str, directory: str | None) -> None:
    """Write a working plugin package NAME into DIRECTORY (default ./translate-NAME)."""
    from ..scaffold import write_scaffold

    path = write_scaffold(name, directory)
    click.echo(f"wrote {path}; install it with: pip install -e {path}")

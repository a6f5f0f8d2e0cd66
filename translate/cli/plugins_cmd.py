"""``translate plugins``: what is installed, and which plugins are broken (with their error)."""

from __future__ import annotations

import os
import sys

import click

from ..errors import PluginError


@click.command()
@click.option("--check/--no-check", default=True, show_default=True,
              help="import each plugin to show its description and catch broken ones")
def plugins(check: bool) -> None:
    """List installed plugins: name, version, distribution, description; broken ones marked."""
    from ..registry import (
        DISABLE_ENV,
        clash_message,
        disabled_names,
        discover,
        registered_names,
        scan,
    )

    found = discover()
    clashes = scan().clashes
    if not found and not clashes:
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
    for name, infos in clashes.items():
        click.echo(f"CLASH  {name:<12} {clash_message(name, infos)}")
    registered = registered_names()
    for name in sorted(disabled_names()):
        unknown = "" if name in registered else ": no installed plugin has this name (misspelt?)"
        click.echo(f"disabled {name!r} (by {DISABLE_ENV}){unknown}" if unknown else f"disabled {name} (by {DISABLE_ENV})")
    if broken:
        click.echo(f"{broken} broken plugin(s); the others work normally", err=True)


@click.group("plugin")
def plugin_group() -> None:
    """Tools for plugin authors."""


@plugin_group.command("new")
@click.argument("name")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--kind", type=click.Choice(["image2image", "gan"]), default="image2image", show_default=True,
              help="image2image: a paired translator (inputs and targets by file name); gan: noise to images")
def new(name: str, directory: str | None, kind: str) -> None:
    """Write a working plugin package NAME into DIRECTORY (default ./translate-NAME): it installs,
    trains, applies or samples, and passes 'translate plugin check' as written."""
    from ..scaffold import write_scaffold

    path = write_scaffold(name, directory, kind)
    click.echo(f"wrote {path} ({kind}); install it with: pip install -e {path}")


@plugin_group.command("check")
@click.argument("target")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="keep the check's data and runs here (default: a temporary folder)")
@click.option("--timeout", type=click.FloatRange(min=0), default=120, show_default=True, metavar="SECONDS",
              help="time limit of each check; a hook that runs longer fails it, named (0: no limit)")
def check(target: str, workdir: str | None, timeout: float) -> None:
    """Check plugin TARGET (an installed name, or package.module:Class) against the contract.

    \b
    Runs, on data the plugin names or the check writes: contract and hook signatures, config
    round trip through checkpoint metadata, build, two training steps, checkpoint reload,
    apply/sample output shape and range, and resume equality. Each line is printed as its check
    ends. Exits 1 if any check fails.
    """
    from ..testing import check_plugin

    def report(result) -> None:
        click.echo(result.line())  # at once, also into a pipe: the lines so far show where it stands

    def stuck(result) -> None:
        """A hook stuck in code that ignores signals cannot be stopped from inside: say so, and go."""
        report(result)
        click.echo(f"{target}: check '{result.name}' did not stop; exiting", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    results = check_plugin(target, workdir, timeout=timeout or None, report=report, on_stuck=stuck)
    failed = [r for r in results if not r.ok]
    click.echo(f"{target}: {len(results) - len(failed)} of {len(results)} checks passed", err=True)
    if failed:
        raise SystemExit(1)

"""``translate data check|pair|split``: look at data before training, and convert between the
two paired layouts (A|B side-by-side images, or two folders paired by file name).
``translate data get NAME`` / ``data list``: the public data sets that installed plugins know by
name (:mod:`translate.catalogue`), downloaded into the cache and unpacked ready to train on."""

from __future__ import annotations

import click


@click.group("data")
def data_group() -> None:
    """Get public data sets by name; check data folders before training; pair or split image sets."""


@data_group.command("check")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--b", "other", type=click.Path(file_okay=False), default=None,
              help="a second folder: unpaired domain B, or paired by file name with --paired")
@click.option("--paired", is_flag=True, help="FOLDER and --b are paired by file name")
@click.option("--aligned", is_flag=True, help="FOLDER holds A|B side-by-side images")
@click.option("--size", type=int, default=None, help="the --size you will train at, to say what happens to each image")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True,
              help="what the model reads: 3 = RGB, 1 = grayscale")
def check(folder: str, other: str | None, paired: bool, aligned: bool, size: int | None, channels: str) -> None:
    """Count, measure and decode-check the images in FOLDER (and --b): sizes, modes, bit depths,
    unreadable or truncated files, duplicates, pairing problems, and what training will do with
    each. Exits 1 when something would stop a training run."""
    from ..data.doctor import aligned_problems, describe, inspect_folder, pairing_problems

    reports = [("A" if other else "data", inspect_folder(folder, "FOLDER"))]
    if other:
        reports.append(("B", inspect_folder(other, "--b")))
    blocking = 0
    for label, report in reports:
        for line in describe(report, label, size, int(channels)):
            click.echo(line)
        blocking += len(report.bad)
    pair_lines = []
    if aligned:
        pair_lines = aligned_problems(reports[0][1])
    elif paired and other:
        pair_lines = pairing_problems(reports[0][1], reports[1][1])
    for line in pair_lines:
        click.echo(line)
    blocking += len(pair_lines)
    if blocking:
        click.echo(f"{blocking} problem(s) would stop training (unreadable files can be skipped with "
                   "--skip-bad-images)", err=True)
        raise SystemExit(1)
    click.echo("no problems found", err=True)


@data_group.command("pair")
@click.argument("a", type=click.Path(file_okay=False, exists=True))
@click.argument("b", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", type=click.Path(file_okay=False), required=True, help="folder for the A|B images")
@click.option("--overwrite", is_flag=True, help="replace outputs that already exist")
def pair(a: str, b: str, out: str, overwrite: bool) -> None:
    """Join images of A and B with the same name into A|B side-by-side images."""
    from ..data.doctor import pair_folders

    click.echo(f"wrote {pair_folders(a, b, out, overwrite)} A|B image(s) to {out}", err=True)


@data_group.command("split")
@click.argument("aligned", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", type=click.Path(file_okay=False), required=True, help="folder for A/ and B/")
@click.option("--overwrite", is_flag=True, help="replace outputs that already exist")
def split(aligned: str, out: str, overwrite: bool) -> None:
    """Split A|B side-by-side images into OUT/A and OUT/B with the same names."""
    from ..data.doctor import split_folder

    click.echo(f"split {split_folder(aligned, out, overwrite)} image(s) into {out}/A and {out}/B", err=True)


@data_group.command("get")
@click.argument("name")
@click.option("-o", "--out", type=click.Path(file_okay=False), default=None,
              help="folder to unpack into  [default: data/NAME]")
@click.option("--overwrite", is_flag=True, help="replace the folder at -o if it is not empty")
@click.option("--offline", is_flag=True, default=None,
              help="use the cache only, never the network (also TRANSLATE_OFFLINE=1)")
def get(name: str, out: str | None, overwrite: bool, offline: bool | None) -> None:
    """Download the data set NAME (see 'translate data list') and unpack it for training.

    The archive is kept in the cache (TRANSLATE_HOME) and checked; the folder is laid out as its
    publisher lays it out, and the command to train on it is printed.

    \b
    translate data get horse2zebra              # → data/horse2zebra/trainA, trainB, testA, testB
    translate data get pix2pix/facades -o facades
    """
    from pathlib import Path

    from ..catalogue import get_dataset, next_command, require

    entry = require("datasets", name)
    folder = get_dataset(entry, Path(out) if out else None, overwrite=overwrite, offline=offline or None)
    click.echo(f"{entry.qualified}: {entry.get('layout')} in {folder}", err=True)
    command = next_command(entry, folder)
    click.echo(f"next: {command}" if command else f"unpacked to {folder}")


@data_group.command("list")
def list_datasets() -> None:
    """The data sets that installed plugins know by name: size, licence, and whether each is
    already here (data/NAME) or in the cache."""
    from ..catalogue import dataset_status, display_name, entries, human_size

    known = entries("datasets")
    if not known:
        click.echo("no installed plugin lists data sets")
        return
    rows = [(display_name(e, known), e.plugin, human_size(e.size), dataset_status(e), e.get("description", ""))
            for e in known]
    width = max(len(r[0]) for r in rows)
    click.echo(f"{'NAME':<{width}}  {'PLUGIN':<10} {'SIZE':>9}  {'STATUS':<18} DESCRIPTION")
    for name, plugin, size, status, description in rows:
        click.echo(f"{name:<{width}}  {plugin:<10} {size:>9}  {status:<18} {description}")

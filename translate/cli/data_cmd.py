"""``translate data check|pair|split``: look at data before training, and convert between the
two paired layouts (A|B side-by-side images, or two folders paired by file name)."""

from __future__ import annotations

import click


@click.group("data")
def data_group() -> None:
    """Check data folders before training; pair or split image sets."""


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

"""``translate plot RUN``: loss and metric curves of a run as a PNG, and a fresh ``RUN/index.html``."""

from __future__ import annotations

import click


@click.command("plot")
@click.argument("run", type=click.Path())
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="where to write the PNG  [default: RUN/curves.png]")
def plot(run, out) -> None:
    """Plot the loss curves (log.jsonl) and metrics (metrics.jsonl) of RUN into a PNG, and rewrite
    RUN/index.html (samples of every checkpoint, curves, metrics, config; open it in a browser).

    RUN is a run folder (a file in it, such as its model.safetensors, works too). The PNG needs
    matplotlib; the page does not."""
    from pathlib import Path

    from ..errors import UserError
    from ..report import MATPLOTLIB_MISSING, check_run, write_index, write_plot
    from ..run_folder import LOG_FILE, in_use

    path = Path(run)
    if path.is_file():
        if not (path.parent / LOG_FILE).is_file():
            raise UserError(f"{run} is a file, and its folder has no {LOG_FILE}; pass a run folder (translate "
                            f"train's --out) or its {LOG_FILE}")
        path = path.parent
    run_dir = check_run(path)
    index = write_index(run_dir, live=in_use(run_dir))  # first: it needs no matplotlib; live while it trains
    try:
        png = write_plot(run_dir, out)
    except UserError as exc:
        if str(exc) == MATPLOTLIB_MISSING:
            raise UserError(f"{exc} ({index} was written without it)") from None
        raise
    click.echo(png)
    click.echo(index)

"""A run's evaluation history: ``metrics.jsonl`` and, with ``--keep-best``, ``best.safetensors``.

Every ``--eval-every`` steps the trainer evaluates the model it would save (EMA weights when EMA
is on) and hands the metrics here. A resumed run continues the same history: records from steps
after the checkpoint it resumes from (an evaluation that ran after the last checkpoint of a
killed run) are dropped, so the file never holds two records for one step, and the best value
so far is read back from ``best.safetensors``' own metadata, which says which step and metric it
holds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from .fileio import open_append, write_text_atomic
from .limits import read_text
from .metric_goals import CORE_GOALS, is_better, parse_metric
from .run_folder import BEST_FILE, METRICS_LOG_FILE


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a .jsonl file; a line cut short by a kill (the last) is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in read_text(path, path.name).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records


class RunMetrics:
    """``metrics.jsonl`` and the best checkpoint of one run folder."""

    def __init__(self, out_dir: Path, keep_best: str = "", goals: Mapping[str, str | None] = CORE_GOALS):
        """``goals``: the run's :func:`translate.metric_goals.goal_table`; ``keep_best`` is checked
        against it now, before any step is spent."""
        self.path = out_dir / METRICS_LOG_FILE
        self.best_path = out_dir / BEST_FILE
        self.metric, self.goal = parse_metric(keep_best, goals) if keep_best else ("", "")
        self.best: float | None = None

    def resume(self, step: int) -> None:
        """Forget records after ``step`` (the checkpoint resumed from); read back the best."""
        records = read_records(self.path)
        kept = [r for r in records if r["step"] <= step]
        if len(kept) != len(records) or (self.path.is_file() and not read_text(self.path).endswith("\n")):
            write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        if self.metric and self.best_path.is_file():
            from safetensors import safe_open

            from .limits import safetensors_header_problem

            try:
                if safetensors_header_problem(self.best_path):
                    raise ValueError(self.best_path)
                with safe_open(str(self.best_path), framework="pt") as f:
                    meta = f.metadata() or {}
                best = float(meta.get("best_value", "nan"))
            except Exception:  # unreadable or edited: the next evaluation writes a new best
                meta, best = {}, math.nan
            if meta.get("best_metric") == self.metric and math.isfinite(best):
                self.best = best

    def append(self, step: int, metrics: dict[str, Any]) -> bool:
        """Record one evaluation; True when it is the best so far by ``--keep-best``."""
        record = {"step": step, **{k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}}
        with open_append(self.path) as f:
            f.write(json.dumps(record) + "\n")
        if not self.metric:
            return False
        value = metrics.get(self.metric)
        if value is None:
            from .errors import UserError

            raise UserError(f"--keep-best {self.metric}: the evaluation measured "
                            f"{', '.join(sorted(k for k in metrics)) or 'nothing'}; choose one of those")
        value = float(value)
        better = is_better(self.goal, value, self.best)
        if better:
            self.best = value
        return better

    def best_metadata(self) -> dict[str, str]:
        return {"best_metric": self.metric, "best_value": repr(self.best), "best_goal": self.goal}

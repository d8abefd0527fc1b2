"""Display tables (rows: method x framework x weights grouped by kind; columns: buckets + all)
and their CSV, Markdown and LaTeX renderings. Display scaling happens here and nowhere else."""
import math
from dataclasses import dataclass, field

import pandas as pd

from reports import captions
from reports.inputs import KIND_ORDER
from reports.stats import ALL, COLUMNS

ROW_KEY = ["method", "framework", "weights"]


@dataclass
class Table:
    mask_set: str
    metric: str
    title: str
    headers: list[str]  # bucket columns then 'all', N included when shared by the column
    groups: list[tuple[str, list[tuple[list[str], list[str]]]]]  # kind, [(row key, cells)]
    notes: list[str]
    keys: list[str] = field(default_factory=lambda: list(ROW_KEY))  # the row key's columns
    group: str = "kind"  # what the row groups are


def format_number(value: float, metric: str) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    info = captions.METRICS[metric]
    return f"{value * info['scale']:.{info['digits']}f}"


def format_cell(row, metric: str, show_n: bool) -> str:
    """'mean [low, high]', plus '(k/N ∞)' for identical images and 'N=..' when the column
    header cannot carry it. Never prints NaN."""
    if row is None:
        return "—"
    if row.status != "ok":
        return "unavailable"
    text = format_number(row.mean, metric)
    if not math.isnan(row.ci_low) and not (math.isinf(row.ci_low) and math.isinf(row.ci_high)):
        low, high = format_number(row.ci_low, metric), format_number(row.ci_high, metric)
        text += f" [{low}, {high}]"
    if row.n_inf:
        text += f" ({row.n_inf}/{row.n} ∞)"
    return text + (f" N={row.n}" if show_n else "")


def kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def build_table(summary: pd.DataFrame, mask_set: str, metric: str,
                buckets: list[str]) -> Table:
    part = summary[(summary["mask_set"] == mask_set) & (summary["metric"] == metric)]
    columns = [*buckets, ALL]
    shared = {}
    headers = []
    for column in columns:
        ns = sorted(set(part.loc[part["bucket"] == column, "n"]))
        shared[column] = len(ns) == 1
        headers.append(f"{column} (N={ns[0]})" if shared[column] else column)
    cells = {(r.method, r.framework, r.weights, r.bucket): r for r in part.itertuples()}
    rows = part[["kind", *ROW_KEY]].drop_duplicates()
    rows = rows.assign(rank=rows["kind"].map(kind_rank)).sort_values(["rank", *ROW_KEY])
    groups = []
    for kind, members in rows.groupby("kind", sort=False):
        body = []
        for key in members[ROW_KEY].itertuples(index=False):
            body.append((list(key), [format_cell(cells.get((*key, c)), metric, not shared[c])
                                     for c in columns]))
        groups.append((kind, body))
    reasons = sorted(set(part.loc[part["status"] != "ok", "status"]))
    return Table(mask_set, metric, captions.header(metric), headers, groups,
                 captions.table_notes(metric, reasons))


def to_csv(summary: pd.DataFrame, mask_sets: list[str], positions: dict[str, float]) -> str:
    """Raw (unscaled) values; missing numbers are empty fields, infinities are 'inf'. Rows in
    report order: mask set, row group, row, metric, bucket by hole ratio, 'all' last."""
    metrics = list(captions.METRICS)
    ordered = summary.assign(
        _set=summary["mask_set"].map(mask_sets.index), _kind=summary["kind"].map(kind_rank),
        _metric=summary["metric"].map(metrics.index),
        _bucket=summary["bucket"].map(lambda b: math.inf if b == ALL else positions[b]))
    ordered = ordered.sort_values(["_set", "_kind", *ROW_KEY, "_metric", "_bucket", "bucket"],
                                  kind="stable")
    return ordered[COLUMNS].to_csv(index=False, na_rep="", lineterminator="\n")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(mask_set: str, tables: list[Table], general: list[str],
                heading: bool = True) -> str:
    """general: the notes that hold for every table, printed once above them (under the mask
    set's heading unless heading is False: a further block of the same file)."""
    lines = [f"## Mask set {mask_set}", ""] if heading else []
    lines += [f"- {_md_escape(note)}" for note in general] + [""]
    for table in tables:
        lines += [f"### {table.mask_set}: {table.title}", ""]
        head = [table.group, *table.keys, *table.headers]
        lines += ["| " + " | ".join(map(_md_escape, head)) + " |",
                  "|" + "---|" * len(head)]
        for kind, body in table.groups:
            for key, cells in body:
                lines.append("| " + " | ".join(map(_md_escape, [kind, *key, *cells])) + " |")
        lines += [""] + [f"- {_md_escape(note)}" for note in table.notes] + [""]
    return "\n".join(lines)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"∞": r"$\infty$", "—": "---", "−": "$-$", "±": r"$\pm$", "×": r"$\times$",
                  "·": r"$\cdot$",
                  "⌈": r"$\lceil$", "⌉": r"$\rceil$", "é": r"\'e"}


def latex_escape(text: str) -> str:
    text = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for char, command in _LATEX_UNICODE.items():
        text = text.replace(char, command)
    return text


def two_lines(cell: str, opening: str = "[", closing: str = "]") -> tuple[str, str] | None:
    """A cell 'mean [low, high] rest' (or a header 'bucket (N=n)') as its two display lines,
    ('mean rest', '[low, high]'); None for a cell without that part. The page and the LaTeX
    tables both show cells so, so that seven buckets fit a screen or a page."""
    head, bracket, rest = cell.partition(" " + opening)
    if not bracket or closing not in rest:
        return None
    inner, _, tail = rest.partition(closing)
    return head + tail, opening + inner + closing


def latex_cell(cell: str, opening: str = "[", closing: str = "]") -> str:
    """two_lines as a one-column tabular; the second line is braced, since '\\\\[' would
    read it as a length."""
    lines = two_lines(cell, opening, closing)
    if lines is None:
        return latex_escape(cell)
    return (r"\begin{tabular}[t]{@{}r@{}}" + latex_escape(lines[0]) + r"\\{"
            + latex_escape(lines[1]) + r"}\end{tabular}")


def to_latex(tables: list[Table], samples: int, shared: list[str],
             extra: dict[str, str]) -> str:
    """One booktabs table per mask set and metric (and per paired table); needs
    \\usepackage{booktabs} and \\usepackage{graphicx}: a table wider than the line is scaled
    down to it (\\resizebox), one of natural width is left as it is. Captions carry units, the
    interval rule, the table's notes, extra[table.metric] and the shared notes, so each table
    stands alone when cited."""
    out = ["% Generated by python -m reports.build; requires \\usepackage{booktabs} and "
           "\\usepackage{graphicx}.", ""]
    for table in tables:
        cols = "l" * len(table.keys) + "c" * len(table.headers)
        interval = (captions.short_interval_note(samples) + " "
                    if table.metric in captions.METRICS and table.metric != "fid" else "")
        notes = [*table.notes, *([extra[table.metric]] if table.metric in extra else []),
                 *shared, captions.COMPOSITE_NOTE]
        caption = f"{table.mask_set}: {table.title}. {interval}" + " ".join(notes)
        out += [r"\begin{table}[t]", r"\centering", r"\footnotesize",
                r"\setlength{\tabcolsep}{3pt}",
                rf"\caption{{{latex_escape(caption)}}}",
                rf"\label{{tab:{table.mask_set}-{table.metric}}}",
                r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
                rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
        head = [key.capitalize() for key in table.keys] + table.headers
        out.append(" & ".join(latex_cell(h, "(N=", ")") for h in head) + r" \\")
        for kind, body in table.groups:
            out += [r"\midrule",
                    rf"\multicolumn{{{len(head)}}}{{l}}{{\emph{{{latex_escape(kind)}}}}} \\"]
            for key, cells in body:
                out.append(" & ".join([*map(latex_escape, key), *map(latex_cell, cells)])
                           + r" \\")
        out += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(out)

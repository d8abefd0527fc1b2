"""HTML rendering: every value is escaped, every image is an inline data URI, and the page
loads nothing from anywhere (template.html holds the skeleton and the CSS)."""
import base64
from html import escape
from pathlib import Path
from string import Template

from datasets.masks import nvidia
from reports import captions
from reports.tables import Table, two_lines

TEMPLATE = Path(__file__).with_name("template.html")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _notes(notes: list[str]) -> str:
    return "".join(f'<p class="note">{escape(note)}</p>' for note in notes)


# a paired cell's closing mark (reports/paired_tables.py), shown as a background colour too
MARKS = {" A": "num better-a", " B": "num better-b", " *": "num differs"}


def _cell_class(cell: str) -> str:
    if cell == "unavailable" or cell.startswith("not comparable"):
        return "num unavailable"
    return next((css for mark, css in MARKS.items() if cell.endswith(mark)), "num")


def _two_lines(cell: str) -> str:
    """tables.two_lines with the interval on a second, smaller line (the exported cell's
    text), so that a table of seven buckets fits 1280 px."""
    lines = two_lines(cell)
    if lines is None:
        return escape(cell)
    return f'{escape(lines[0])}<br><span class="ci">{escape(lines[1])}</span>'


def html_table(table: Table, links: dict[str, str] | None = None, heading: bool = True) -> str:
    """links: row-key text -> anchor on the page (a method's row in Methods, where its
    deviations are stated once); heading: the title above (not under a details summary)."""
    links = links or {}
    head = "".join(f"<th>{escape(h)}</th>" for h in [*table.keys, *table.headers])
    body = []
    for kind, rows in table.groups:
        body.append(f'<tr class="group"><td colspan="{len(table.keys) + len(table.headers)}">'
                    f"{escape(kind)}</td></tr>")
        for key, cells in rows:
            tds = "".join(f'<td><a href="{links[k]}">{escape(k)}</a></td>' if k in links else
                          f"<td>{escape(k)}</td>" for k in key)
            tds += "".join(f'<td class="{_cell_class(c)}">{_two_lines(c)}</td>' for c in cells)
            body.append(f"<tr>{tds}</tr>")
    return ((f"<h4>{escape(table.title)}</h4>" if heading else "") +
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>{_notes(table.notes)}")


def methods_section(rows: list[tuple[str, dict, list[str]]], inference: list[str]) -> str:
    """rows: (method id, spec, the framework/weights combinations scored); inference: notes on
    the weights (published or not provided) and the inference options the predictions used."""
    body = []
    for method, spec, scored in rows:
        deviations = spec.get("deviations") or []
        listed = ("<ul>" + "".join(f"<li>{escape(str(d))}</li>" for d in deviations) + "</ul>"
                  if deviations else "none stated")
        kind = str(spec.get("kind")) + (" (sees the ground truth)"
                                        if spec.get("sees_ground_truth") else "")
        body.append(f'<tr id="method-{escape(method)}"><td>{escape(method)}</td>'
                    f"<td>{escape(str(spec.get('title', '')))}"
                    f"</td><td>{escape(kind)}</td>"
                    f"<td>{escape(', '.join(scored))}</td><td>{listed}</td></tr>")
    return ('<h2 id="methods">Methods</h2><div class="scroll"><table><thead><tr><th>id</th>'
            "<th>title</th><th>kind</th>"
            "<th>framework / weights scored</th><th>deviations from the paper</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>"
            '<p class="note">Controls (e.g. the oracle, which returns the ground truth) and '
            "classical methods need no training; they bound the table from above and below."
            "</p>" + "".join(f'<p class="note">{escape(note)}</p>' for note in inference))


def metrics_section() -> str:
    items = "".join(f"<dt>{escape(captions.header(m))}</dt><dd>{escape(info['definition'])}</dd>"
                    for m, info in captions.METRICS.items())
    return (f"<h2>Metrics</h2><dl>{items}</dl>"
            f'<p class="note">{escape(captions.COMPOSITE_NOTE)}</p>')


def plots_html(plots: list[tuple[str, bytes, list[str]]]) -> str:
    figures = []
    for metric, png, omitted in plots:
        label = captions.METRICS[metric]["label"]
        caption = (f"{label} per bucket (no interval)." if metric == "fid" else
                   f"{label} against hole ratio; bars: 95% bootstrap interval.")
        if omitted:
            caption += " Points not drawn (infinite mean): " + ", ".join(omitted) + "."
        figures.append(f'<figure><img src="{data_uri(png)}" alt="{escape(label)} against hole '
                       f'ratio"><figcaption>{escape(caption)}</figcaption></figure>')
    return "<h3>Metrics against hole ratio</h3>" + "".join(figures) if figures else ""


def grid_html(labels: list[str], rows: list[tuple[str, list[bytes]]]) -> str:
    """Rows labelled #1, #2, ... (the full item, image, mask and bucket in the row's title and
    in the list under the grid), so the label column stays narrow."""
    head = "".join(f"<th>{escape(label)}</th>" for label in ["masked input", *labels,
                                                              "ground truth"])
    body, captions_list = [], []
    for number, (caption, cells) in enumerate(rows, 1):
        images = "".join(f'<td><img src="{data_uri(png)}" alt="{escape(name)}, #{number}"></td>'
                         for png, name in zip(cells, ["masked input", *labels, "ground truth"]))
        body.append(f'<tr title="{escape(caption)}"><td class="caption">#{number}</td>{images}'
                    "</tr>")
        captions_list.append(f"<li>{escape(caption)}</li>")
    return ("<h3>Qualitative grid</h3>"
            '<p class="note">The same images and masks for every method (pairing checked in '
            "predictions.tsv). Hole shown in flat magenta in the masked input; predictions are "
            "the composited outputs that were scored. Row r shows item r of bucket r mod B (B "
            "buckets, in hole-ratio order), at most 6 rows; the grid scrolls sideways in its "
            "box when it is wider than the page.</p>"
            f'<div class="scroll"><table class="grid"><thead><tr><th>row</th>{head}</tr>'
            f"</thead><tbody>{''.join(body)}</tbody></table></div>"
            f'<ol class="note">{"".join(captions_list)}</ol>')


DEVIATIONS_ONCE = ("Each method's deviations from its paper (the spec's, and those its training "
                   "runs recorded) and the inference options its predictions used are stated "
                   "once, in Methods; the method names in the tables link there.")


def paired_html(mask_set: str, agreement: Table | None, verdicts: list[str],
                compared: list[Table], caption: str) -> str:
    """The agreement table under its verdict lines, then the comparison tables, each folded
    (PSNR and L1 open) under one caption."""
    parts = []
    if agreement:
        parts.append(f'<h3 id="agreement-{escape(mask_set)}">Framework agreement (torch vs '
                     'paddle)</h3><ul class="verdicts">'
                     + "".join(f"<li>{escape(v)}</li>" for v in verdicts) + "</ul>"
                     + html_table(agreement))
    if compared:
        parts.append(f'<h3 id="comparisons-{escape(mask_set)}">Method comparisons</h3>'
                     f'<p class="note">{escape(caption)}</p>')
        for table in compared:
            opened = " open" if table.metric in ("compare-psnr", "compare-l1") else ""
            parts.append(f"<details{opened}><summary>{escape(table.title)}</summary>"
                         + html_table(table, heading=False) + "</details>")
    return "".join(parts)


def curves_html(drawn: list[tuple[str, bytes, str]]) -> str:
    if not drawn:
        return ""
    figures = "".join(f'<figure class="wide"><img src="{data_uri(png)}" alt="{escape(method)} '
                      f'training losses"><figcaption>{escape(caption)}</figcaption></figure>'
                      for method, png, caption in drawn)
    return ('<h2 id="training">Training curves</h2><p class="note">Each retrained run\'s '
            "losses as its log.jsonl records them (results/train/&lt;dataset&gt;/&lt;method&gt;"
            "/&lt;framework&gt;/), the two frameworks on one step axis. The same plots are "
            "PNGs beside the tables (curves_&lt;method&gt;.png).</p>" + figures)


def mask_set_section(name: str, definition: dict, general: list[str], tables: list[Table],
                     links: dict[str, str], middle: str, grid: str) -> str:
    """general: notes that hold for every table of the mask set, printed once above them;
    middle: the agreement, comparisons, published figures and plots. An nvidia definition
    reads in words (its resize and bucketing rules) rather than bare keys."""
    described = (nvidia.describe(definition) if definition.get("kind") == "nvidia"
                 else ", ".join(f"{k}: {v}" for k, v in definition.items()))
    return (f'<h2 id="{escape(name)}">Mask set {escape(name)}</h2>'
            f'<p class="note">Definition (configs/mask_sets.yaml): {escape(described)}</p>'
            + _notes(general) + "".join(html_table(t, links) for t in tables) + middle + grid)


def provenance_section(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    parts = ["<h2>Provenance</h2>"]
    for title, rows in sections:
        body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        parts.append(f'<h3>{escape(title)}</h3><table class="prov"><tbody>{body}</tbody></table>')
    return "".join(parts)


def render(title: str, sections: list[str]) -> str:
    body = f"<h1>{escape(title)}</h1>" + "".join(sections)
    return Template(TEMPLATE.read_text()).substitute(title=escape(title), body=body)

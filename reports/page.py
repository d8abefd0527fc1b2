"""HTML rendering: every value is escaped, every image is an inline data URI, and the page
loads nothing from anywhere (template.html holds the skeleton and the CSS)."""
import base64
from html import escape
from pathlib import Path
from string import Template

from datasets.masks import nvidia
from reports import captions
from reports.tables import Table

TEMPLATE = Path(__file__).with_name("template.html")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _notes(notes: list[str]) -> str:
    return "".join(f'<p class="note">{escape(note)}</p>' for note in notes)


def html_table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in ["method", "framework", "weights",
                                                      *table.headers])
    body = []
    for kind, rows in table.groups:
        body.append(f'<tr class="group"><td colspan="{3 + len(table.headers)}">'
                    f"{escape(kind)}</td></tr>")
        for key, cells in rows:
            tds = "".join(f"<td>{escape(k)}</td>" for k in key)
            for cell in cells:
                css = "num unavailable" if cell == "unavailable" else "num"
                tds += f'<td class="{css}">{escape(cell)}</td>'
            body.append(f"<tr>{tds}</tr>")
    return (f"<h4>{escape(table.title)}</h4>"
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>{_notes(table.notes)}")


def methods_section(rows: list[tuple[str, dict, list[str]]], inference: list[str]) -> str:
    """rows: (method id, spec, the framework/weights combinations scored); inference: notes on
    the inference options the predictions used."""
    body = []
    for method, spec, scored in rows:
        deviations = spec.get("deviations") or []
        listed = ("<ul>" + "".join(f"<li>{escape(str(d))}</li>" for d in deviations) + "</ul>"
                  if deviations else "none stated")
        kind = str(spec.get("kind")) + (" (sees the ground truth)"
                                        if spec.get("sees_ground_truth") else "")
        body.append(f"<tr><td>{escape(method)}</td><td>{escape(str(spec.get('title', '')))}"
                    f"</td><td>{escape(kind)}</td>"
                    f"<td>{escape(', '.join(scored))}</td><td>{listed}</td></tr>")
    return ("<h2>Methods</h2><table><thead><tr><th>id</th><th>title</th><th>kind</th>"
            "<th>framework / weights scored</th><th>deviations from the paper</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
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
    head = "".join(f"<th>{escape(label)}</th>" for label in ["masked input", *labels,
                                                              "ground truth"])
    body = []
    for caption, cells in rows:
        images = "".join(f'<td><img src="{data_uri(png)}" alt=""></td>' for png in cells)
        body.append(f'<tr><td class="note caption">{escape(caption)}</td>{images}</tr>')
    return ("<h3>Qualitative grid</h3>"
            '<p class="note">The same images and masks for every method (pairing checked in '
            "predictions.tsv). Hole shown in flat magenta in the masked input; predictions are "
            "the composited outputs that were scored. Row r shows item r of bucket r mod B (B "
            "buckets, in hole-ratio order), at most 6 rows.</p>"
            f'<div class="scroll"><table class="grid"><thead><tr><th>item</th>{head}</tr>'
            f"</thead><tbody>{''.join(body)}</tbody></table></div>")


def mask_set_section(name: str, definition: dict, general: list[str], tables: list[Table],
                     plots: str, grid: str) -> str:
    """general: notes that hold for every table of the mask set, printed once above them.
    An nvidia definition reads in words (its resize and bucketing rules) rather than bare keys."""
    described = (nvidia.describe(definition) if definition.get("kind") == "nvidia"
                 else ", ".join(f"{k}: {v}" for k, v in definition.items()))
    return (f'<h2 id="{escape(name)}">Mask set {escape(name)}</h2>'
            f'<p class="note">Definition (configs/mask_sets.yaml): {escape(described)}</p>'
            + _notes(general) + "".join(html_table(t) for t in tables) + plots + grid)


def provenance_section(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    parts = ["<h2>Provenance</h2>"]
    for title, rows in sections:
        body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        parts.append(f'<h3>{escape(title)}</h3><table class="prov"><tbody>{body}</tbody></table>')
    return "".join(parts)


def render(title: str, sections: list[str]) -> str:
    body = f"<h1>{escape(title)}</h1>" + "".join(sections)
    return Template(TEMPLATE.read_text()).substitute(title=escape(title), body=body)

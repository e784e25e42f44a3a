"""One self-contained HTML page: inline CSS, charts as PNG data URIs, no network.

The content security policy forbids every fetch, so a page that renders here renders the
same offline. The small inline script only checks that every chart decoded, and writes
the result into the page (the browser test reads it).
"""

from __future__ import annotations

import base64
from html import escape

from .sections import Section, Table

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d1d1f;
       background: #fafafa; line-height: 1.45; }
main { max-width: 1040px; margin: 0 auto; padding: 1.5rem; }
header p, nav { color: #555; }
nav a { margin-right: 0.9rem; color: #2f6db5; text-decoration: none; }
section { background: #fff; border: 1px solid #e3e3e3; border-radius: 8px; padding: 1rem 1.25rem;
          margin: 1.25rem 0; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 0.2rem; }
img { max-width: 100%; height: auto; display: block; margin: 0.75rem 0; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.75rem 0; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
.empty { color: #8a5a00; background: #fff7e6; padding: 0.6rem 0.8rem; border-radius: 6px; }
footer { color: #777; font-size: 0.85rem; }
"""

CHECK_IMAGES = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  var status = document.getElementById("image-check");
  status.setAttribute("data-loaded", String(loaded));
  status.setAttribute("data-total", String(images.length));
  status.setAttribute("data-state", loaded === images.length ? "ok" : "broken");
  status.textContent = images.length ? loaded + " of " + images.length + " charts loaded." : "";
});
"""


def page(title: str, subtitle: str, sections: list[Section], home: str | None = None) -> str:
    """The page; `home`, when given, is linked at the top (an athlete's page back to the team's)."""
    back = f'<p><a href="{escape(home)}">&larr; Team</a></p>' if home else ""
    nav = " ".join(f'<a href="#{s.anchor}">{escape(s.title.split(". ", 1)[-1])}</a>' for s in sections)
    body = "\n".join(_section(s) for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header>{back}<h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>
<nav>{nav}</nav>
{body}
<footer><p id="image-check" data-state="pending">Charts not checked (scripts off).</p>
<p>Made by fitpipe report from the parquet tables; opens offline.</p></footer>
</main>
<script>{CHECK_IMAGES}</script>
</body>
</html>
"""


def _section(section: Section) -> str:
    parts = [f'<section id="{section.anchor}">', f"<h2>{escape(section.title)}</h2>"]
    parts += [f"<p>{escape(text)}</p>" for text in section.text]
    if section.empty:
        parts.append(f'<p class="empty">{escape(section.empty)}</p>')
    parts += [_image(png, alt) for png, alt in section.images]
    parts += [_table(table) for table in section.tables]
    parts.append("</section>")
    return "\n".join(parts)


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    links = table.links or [None] * len(table.rows)
    rows = "".join("<tr>" + "".join(_cell(c, link if i == 0 else None) for i, c in enumerate(row)) + "</tr>"
                   for row, link in zip(table.rows, links))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _cell(text: str, link: str | None) -> str:
    return f'<td><a href="{escape(link)}">{escape(text)}</a></td>' if link else f"<td>{escape(text)}</td>"

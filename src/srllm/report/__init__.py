"""Reports over experiment run dirs: Markdown and one self-contained HTML page."""

from srllm.report.render import build_sections, render_html, render_markdown, write_report

__all__ = ["build_sections", "render_html", "render_markdown", "write_report"]

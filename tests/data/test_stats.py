"""Statistics: the paper's tables as Markdown/JSON and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from srllm.data import compute_stats, read_records, write_stats
from srllm.data.stats import flesch_reading_ease


def test_stats_files_and_numbers(fixtures: Path, tmp_path: Path) -> None:
    records = read_records(fixtures / "cmd.jsonl")
    written = write_stats(records, tmp_path / "stats")
    assert {p.name for p in written.values()} == {"stats.md", "stats.json", "labels.png", "lengths.png",
                                                  "flesch_by_sentiment.png", "edit_distance.png"}
    for path in written.values():
        assert path.stat().st_size > 0
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written.values() if p.suffix == ".png")
    stats = json.loads(written["json"].read_text(encoding="utf-8"))
    assert stats["records"] == 10 and stats["with_safe_variation"] == 9  # c7 is TOREMOVE
    assert stats["labels"]["bias"] == {"Yes": 6, "No": 1, "(missing)": 3}
    assert stats["lengths"]["text"]["chars"]["max"] == len("Immigrants ruin every town they move to.")
    md = written["markdown"].read_text(encoding="utf-8")
    assert "Label distribution (paper Table 12)" in md and "| bias | Yes | 6 | 60.00 |" in md
    assert "Normalized edit distance" in md


def test_edit_distance_is_zero_for_unchanged_and_one_for_disjoint() -> None:
    from srllm.data import CMDRecord

    records = [CMDRecord(id="a", text="abc def", safe_variation="abc def"),
               CMDRecord(id="b", text="aaa", safe_variation="zzz")]
    chars = compute_stats(records)["edit_distance"]["chars"]
    assert (chars["min"], chars["max"]) == (0.0, 1.0)


def test_flesch_reading_ease_orders_easy_above_hard() -> None:
    easy = "The cat sat on the mat. It was a sunny day."
    hard = ("Notwithstanding considerable institutional heterogeneity, comprehensive intergovernmental "
            "administrative reorganization necessitates unprecedented deliberation.")
    assert flesch_reading_ease(easy) > 80 > 0 > flesch_reading_ease(hard)


def test_stats_on_real_srllm_csv(srllm_train: Path, tmp_path: Path) -> None:
    stats = compute_stats(read_records(srllm_train))
    assert stats["records"] == 434 and stats["with_safe_variation"] == 427
    assert stats["other_columns"]["label"] == {"Slightly Biased": 312, "Highly Biased": 122}

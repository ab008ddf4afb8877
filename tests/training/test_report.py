"""The report answers the notebook's three questions and draws every trial's curve."""

from __future__ import annotations

from pathlib import Path

from training.protocol import TrialOutcome
from training.report import ArchResults, render_markdown, write_report


def _results() -> list[ArchResults]:
    lstm = [TrialOutcome(i, True, 10_000 + 1000 * i, i % 2, i, 3000) for i in range(3)]
    seed = [TrialOutcome(i, False, None, 1510, 3000, 3000) for i in range(3)]
    curve = [(1000, 0.9), (5000, 0.5), (10_000, 0.05)]
    return [
        ArchResults("lstm", "6b", lstm, curves=[curve] * 3, settings="hidden_size=32; lr=0.01"),
        ArchResults("attn_rnn_seed", "6b", seed, curves=[curve[:2]] * 3),
    ]


def test_markdown_answers_the_three_questions_beside_the_paper() -> None:
    text = render_markdown(_results())
    assert "| `lstm` | 3 | 3/3 | 11,000 | 11,000 | 0.33 ± 0.47 of 3000 | 1.00 ± 0.82 of 3000 |" in text
    assert "571,100" in text  # the paper's figure for 6b
    assert "**1." in text and "**2." in text and "**3." in text
    assert "`attn_rnn_seed`: none of 3 trials met it" in text
    assert "capped at 50%" in text and "bag of symbols" in text


def test_empty_registry_says_what_to_run() -> None:
    assert "temporal-order train" in render_markdown([])


def test_write_report_makes_markdown_and_a_png(tmp_path: Path) -> None:
    markdown, plot = write_report(_results(), tmp_path / "out")
    assert markdown.read_text().startswith("# Temporal order report")
    assert plot is not None and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.stat().st_size > 10_000

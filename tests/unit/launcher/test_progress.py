"""The progress display: a bar on a terminal, a plain line per tenth of a task otherwise."""

from __future__ import annotations

import io

from launcher._progress import UNKNOWN_EVERY, ProgressDisplay


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_one_line_per_tenth_per_task() -> None:
    out = io.StringIO()
    display = ProgressDisplay("ingest", unit="rows", stream=out)
    for _ in range(20):
        display.advance("persons", 5, 100)
    display.advance("claims", 7, 7)
    display.close()
    lines = out.getvalue().splitlines()
    assert lines == [f"ingest: persons {p}%" for p in range(10, 101, 10)] + ["ingest: claims 100%"]


def test_running_counts_and_an_empty_task() -> None:
    out = io.StringIO()
    display = ProgressDisplay("calibrate", unit="images", stream=out)
    for done in (1, 2, 3, 4):
        display.set_done("images", done, 4)
    display.advance("nothing", 0, 0)
    display.close()
    assert out.getvalue().splitlines() == [
        "calibrate: images 20%",
        "calibrate: images 50%",
        "calibrate: images 70%",
        "calibrate: images 100%",
        "calibrate: nothing 100%",
    ]


def test_nothing_is_written_before_the_first_unit_of_work() -> None:
    for stream in (io.StringIO(), _Terminal()):
        ProgressDisplay("datagen", unit="persons", stream=stream).close()
        assert stream.getvalue() == ""


def test_on_a_terminal_a_bar_redrawn_in_place() -> None:
    out = _Terminal()
    display = ProgressDisplay("ingest", unit="rows", stream=out)
    display.advance("persons", 50, 100)
    display.advance("persons", 50, 100)
    display.close()
    text = out.getvalue()
    assert "\r" in text and "persons" in text and "100/100" in text
    assert "ingest: persons" not in text


def test_a_task_of_unknown_size_shows_a_running_count() -> None:
    out = io.StringIO()
    display = ProgressDisplay("check", unit="rows", stream=out)
    for _ in range(UNKNOWN_EVERY * 2 + 7):
        display.advance("rows", 1, None)
    display.close()
    assert out.getvalue().splitlines() == [
        f"check: rows {UNKNOWN_EVERY}",
        f"check: rows {UNKNOWN_EVERY * 2}",
        f"check: rows {UNKNOWN_EVERY * 2 + 7}",
    ]
    bar = _Terminal()
    display = ProgressDisplay("check", unit="rows", stream=bar)
    display.set_done("rows", 3, None)
    display.close()
    assert "\r" in bar.getvalue() and "3" in bar.getvalue() and "check: rows" not in bar.getvalue()

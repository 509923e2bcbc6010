"""The helpers every bench line uses: the load average with its warning, spreads, goals."""

from __future__ import annotations

import os
import re

import pytest

from bench._stats import goal, load_line, load_now, spread


def test_load_now_names_the_three_averages_and_warns_only_above_the_cores() -> None:
    average, warning = load_now()
    assert re.fullmatch(r"\[load \d+\.\d\d \d+\.\d\d \d+\.\d\d\]", average)
    one = float(average[len("[load ") :].split()[0])
    cores = os.cpu_count() or 1
    if one > cores:
        assert warning == f"  WARNING: load above the {cores} cores, a noisy number"
    else:
        assert warning == ""
    assert load_line().startswith("[load ")


@pytest.mark.parametrize(("offset", "noisy"), [(0.004, False), (0.006, True)])
def test_the_warning_follows_the_printed_figure_at_the_number_of_cores(
    monkeypatch: pytest.MonkeyPatch, offset: float, noisy: bool
) -> None:
    cores = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (cores + offset, 1.0, 0.25))
    average, warning = load_now()
    shown = f"{cores:.2f}" if not noisy else f"{cores + 0.01:.2f}"
    assert average == f"[load {shown} 1.00 0.25]"
    assert (warning != "") is noisy


@pytest.mark.parametrize(("one", "noisy"), [(0.5, False), (100.0, True)])
def test_a_line_starts_with_the_load_and_its_warning_inside_the_brackets(
    monkeypatch: pytest.MonkeyPatch, one: float, noisy: bool
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (one, 1.0, 0.25))
    cores = os.cpu_count() or 1
    warned = f"[load {one:.2f} 1.00 0.25, above the {cores} cores: a noisy number]"
    assert load_line() == (warned if noisy else f"[load {one:.2f} 1.00 0.25]")


def test_spread_is_min_median_max() -> None:
    assert spread([3.0, 1.0, 2.0], ".1f") == "1.0/2.0/3.0"
    assert spread([1.0, 2.0, 4.0, 10.0], ",.0f") == "1/3/10"
    assert spread([1234.0], ",.0f") == "1,234/1,234/1,234"


def test_goal_against_a_lower_or_an_upper_bound() -> None:
    assert goal(0.4, at_least=0.4) == "met"
    assert goal(0.39, at_least=0.4) == "NOT met"
    assert goal(3.0, at_most=3.0) == "met"
    assert goal(3.01, at_most=3.0) == "NOT met"

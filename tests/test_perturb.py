"""Metamorphic variants and the shrinking flip search."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmgate.robustness.perturb import (
    KINDS,
    Edit,
    PerturbResult,
    Variant,
    apply_edits,
    search_flip,
    variant_strategy,
)

TEXT = (
    "Our EU VAT ID DE293847561 is missing from invoice INV-20931. I paid $59 twice, "
    "please email admin@acmecloud.com with the corrected invoice today"
)
IDS = re.findall(r"\S*\d\S*|\S+@\S+", TEXT)


def changed_words(text: str) -> int:
    """How many of TEXT's words differ, position by position (typos and case edits keep the count)."""
    return sum(a != b for a, b in zip(TEXT.split(), text.split()))


def test_the_empty_edit_list_is_the_original():
    assert apply_edits(TEXT, []) == Variant(TEXT, ())
    assert Variant(TEXT).description == "original"


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_changes_the_text_and_says_how(kind):
    for target in range(3):
        variant = apply_edits(TEXT, [Edit(kind, target, position=1, choice=target)])
        assert variant.text != TEXT
        assert len(variant.edits) == 1 and variant.edits[0].startswith(f"{kind}: ")


@settings(max_examples=100, deadline=None, database=None)
@given(st.data())
def test_variants_keep_digits_ids_and_their_order(data):
    kinds = data.draw(st.lists(st.sampled_from(list(KINDS)), min_size=1, unique=True))
    variant = data.draw(variant_strategy(TEXT, kinds))
    position = 0
    for identifier in IDS:
        position = variant.text.find(identifier, position)
        assert position >= 0, f"{identifier!r} lost in {variant.text!r}"
    assert (variant.text == TEXT) or variant.edits


def test_typos_spare_acronyms_and_short_words():
    for target in range(10):
        variant = apply_edits(TEXT, [Edit("typos", target, 0, 0)])
        [edit] = variant.edits
        assert not re.search(r"'(EU|VAT|ID|I)'", edit), edit


def test_unknown_kind_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown perturbation kind 'emoji'.*typos"):
        variant_strategy(TEXT, ["case", "emoji"])


def test_a_text_with_nothing_to_edit_costs_only_the_baseline_call():
    result = search_flip("12345 #4410 INV-20931", ["typos"], lambda text: True, count=10, seed=0)
    assert (result.tried, result.calls, result.failure) == (0, 1, None)


def test_search_shrinks_to_the_two_typos_that_break_it():
    result = search_flip(TEXT, ["typos"], lambda text: changed_words(text) < 2, count=50, seed=1)
    assert result.original_held and result.flipped
    assert result.failure is not None
    assert len(result.failure.edits) == 2
    assert all(edit.startswith("typos: ") for edit in result.failure.edits)
    assert changed_words(result.failure.text) == 2
    assert result.original == TEXT


def test_search_shrinks_mixed_kinds_to_the_one_case_change():
    original_words = {word.lower(): word for word in TEXT.split()}

    def holds(text: str) -> bool:
        return all(original_words.get(word.lower(), word) == word for word in text.split())

    result = search_flip(TEXT, ["whitespace", "filler", "case", "punctuation"], holds, count=60, seed=4)
    assert result.failure is not None
    assert len(result.failure.edits) == 1 and result.failure.edits[0].startswith("case: ")


def test_every_variant_holding_is_reported_with_counts_within_the_budget():
    seen: list[str] = []

    def holds(text: str) -> bool:
        seen.append(text)
        return True

    result = search_flip(TEXT, list(KINDS), holds, count=20, seed=0)
    assert not result.flipped and result.failure is None
    assert 0 < result.tried <= 20 and result.held == result.tried
    assert result.calls == len(seen) == len(set(seen)) == result.tried + 1


def test_max_calls_stops_shrinking_and_keeps_the_smallest_failure_so_far():
    seen: list[str] = []

    def holds(text: str) -> bool:
        seen.append(text)
        return changed_words(text) < 2

    result = search_flip(TEXT, ["typos", "case"], holds, count=30, seed=0, max_calls=6)
    assert len(seen) == result.calls == 6
    assert result.budget_exhausted
    assert result.failure is not None and len(result.failure.edits) > 2  # not fully shrunk
    assert not holds(result.failure.text)
    unlimited = search_flip(TEXT, ["typos", "case"], lambda text: changed_words(text) < 2, count=30, seed=0)
    assert unlimited.failure is not None and len(unlimited.failure.edits) == 2
    assert not unlimited.budget_exhausted


def test_a_failing_original_is_not_searched():
    result = search_flip(TEXT, ["typos"], lambda text: False, count=10, seed=0)
    assert result == PerturbResult(TEXT, ("typos",), original_held=False, tried=0, held=0, calls=1)


def test_the_search_is_deterministic_by_seed():
    def run(seed: int) -> PerturbResult:
        return search_flip(
            TEXT, ["typos", "case", "whitespace"], lambda text: changed_words(text) < 3, count=40, seed=seed
        )

    first = run(9)
    assert first.flipped and first == run(9)


def test_the_search_writes_nothing_under_the_working_directory(tmp_path):
    # A fresh interpreter: hypothesis fixes its storage folder to the working directory it starts in.
    script = (
        "from pytest_llmgate.robustness.perturb import KINDS, search_flip\n"
        "result = search_flip('Please add a dark mode to the settings page', list(KINDS),\n"
        "                     lambda text: 'dark' in text, count=40, seed=3)\n"
        "assert result.flipped\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)
    assert list(tmp_path.iterdir()) == []

"""The framework's team rules: a group's medoid label (2/3, then the longest duration) and
how far labelers agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alwidget.team import Agreement, cohen_kappa, fleiss_kappa, medoid_label

GROUP = ["ann", "bob", "kim"]


def test_a_tag_in_two_of_three_annotations_is_the_label():
    a = {"ann": [("owl", 0.0, 1.0)], "bob": [("owl", 0.2, 0.4)], "kim": [("frog", 0.0, 1.0)]}
    assert medoid_label(a, GROUP) == Agreement("owl", 3, pytest.approx(2 / 3), True, False)


def test_several_passing_tags_the_longest_total_duration_wins_and_ties_are_settled():
    a = {"ann": [("owl", 0.0, 0.3), ("rain", 0.0, 1.0)],
         "bob": [("owl", 0.0, 0.3), ("rain", 0.0, 0.9)],
         "kim": [("owl", 0.0, 0.3)]}
    assert medoid_label(a, GROUP).label == "rain"  # 1.9 s of rain against 0.9 s of owl
    tie = {"ann": [("owl", 0.0, 0.5), ("rain", 0.0, 0.75)],
           "bob": [("owl", 0.0, 0.5), ("rain", 0.0, 0.75)],
           "kim": [("owl", 0.0, 0.5)]}  # 1.5 s of each
    assert medoid_label(tie, GROUP).label == "owl"  # equal durations: found in more annotations
    even = {"ann": [("rain", 0.0, 0.5), ("owl", 0.0, 0.5)],
            "bob": [("rain", 0.0, 0.5), ("owl", 0.0, 0.5)], "kim": [("frog", 0.0, 1.0)]}
    assert medoid_label(even, GROUP).label == "owl"  # all equal: the first by name


def test_no_agreement_goes_to_doubt_resolution_and_doubt_is_never_the_label():
    a = {"ann": [("owl", 0, 1)], "bob": [("frog", 0, 1)], "kim": [("rain", 0, 1)]}
    got = medoid_label(a, GROUP)
    assert got.label is None and got.doubt and got.complete
    assert got.agreement == pytest.approx(1 / 3)
    doubted = {g: [("Doubt", 0, 1)] for g in GROUP}
    assert medoid_label(doubted, GROUP).doubt  # everyone doubts: a doubt round, not a label


def test_missing_annotations_wait_and_a_single_labeler_decides_nothing():
    one = medoid_label({"ann": [("owl", 0, 1)]}, GROUP)
    assert one == Agreement(None, 1, pytest.approx(1 / 3), False, False)
    two = medoid_label({"ann": [("owl", 0, 1)], "bob": [("owl", 0, 1)]}, GROUP)
    assert two.label is None and not two.complete and not two.doubt  # kim has not labeled
    outsider = {"ann": [("owl", 0, 1)], "bob": [("owl", 0, 1)], "zoe": [("owl", 0, 1)]}
    assert medoid_label(outsider, GROUP).n_labelers == 2  # not in the group: not counted
    pair = {"ann": [("owl", 0, 1)], "bob": [("frog", 0, 1)]}
    assert medoid_label(pair, ["ann", "bob"]).doubt  # a pair must agree fully (2/3 of 2 -> 2)


@pytest.mark.parametrize("group, annotations, message", [
    (["ann"], {"ann": [("owl", 0, 1)]}, "a group of one cannot agree"),
    (["ann", "ann"], {}, "each once"),
    (GROUP, {"ann": [("owl", 0.5, 0.2)]}, "needs 0 <= onset_s < offset_s"),
    (GROUP, {"ann": [("owl", 0.5)]}, "must be \\(tag, onset_s, offset_s\\)"),
])
def test_bad_input_is_refused(group, annotations, message):
    with pytest.raises(ValueError, match=message):
        medoid_label(annotations, group)


def test_kappas_match_hand_computed_values_and_say_nan_when_chance_is_perfect():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    a = rng.choice(["owl", "frog", "rain"], 200)
    b = np.where(rng.random(200) < 0.7, a, rng.choice(["owl", "frog", "rain"], 200))
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert math.isnan(cohen_kappa(["owl"] * 3, ["owl"] * 3))
    rows = [["owl", "owl", "owl"], ["frog", "frog", "owl"], ["frog", "frog", "frog"]]
    assert fleiss_kappa(rows) == pytest.approx((7 / 9 - 41 / 81) / (1 - 41 / 81))
    assert fleiss_kappa([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same two or more labelers"):
        fleiss_kappa([["a", "b"], ["a"]])

"""Boxes and outlines: a seal's outline filled as a mask has the area and the turn of the
shape it stands for, and boxes are matched one to one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imprint.boxes import fill_outline, iou, match


@pytest.mark.parametrize("square", [False, True])
def test_an_outline_fills_its_area_turned_clockwise(square):
    a, b, turn = 60.0, 30.0, 30.0
    mask = fill_outline(np.zeros((200, 200), np.uint8), (100.0, 100.0), (a, b), turn, square)
    area = 4 * a * b if square else math.pi * a * b
    assert mask.max() == 1 and abs(int(mask.sum()) - area) < 0.03 * area
    # the long axis turned 30 degrees clockwise on the image (y down): the mask reaches
    # down-right along it and not up-right
    dx, dy = (a - 6) * math.cos(math.radians(turn)), (a - 6) * math.sin(math.radians(turn))
    assert mask[round(100 + dy), round(100 + dx)] == 1  # (row, column)
    assert mask[round(100 - dy), round(100 + dx)] == 0


def test_boxes_are_matched_one_to_one_best_first():
    truth = [(0, 0, 10, 10), (20, 0, 30, 10)]
    found = [(21, 0, 31, 10), (0, 2, 10, 12), (1, 0, 11, 10)]  # the third fits truth 0 best
    assert iou(truth[0], truth[0]) == 1.0 and iou(truth[0], truth[1]) == 0.0
    assert sorted(match(truth, found)) == [(0, 2), (1, 0)]
    assert match(truth, [(0, 6, 10, 16)]) == []  # IoU 0.25: no match

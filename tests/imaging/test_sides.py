"""Square borders found by their straight sides, on ink masks drawn here."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from imprint.sides import side_supports, square_borders

LINE = 4.0  # px: a border stroke and the tolerance a border is measured with
SIDES = (40.0, 200.0)


def _square(mask: np.ndarray, centre, half: float, angle: float, thickness: int = 3) -> None:
    corners = cv2.boxPoints((centre, (2 * half, 2 * half), angle))
    cv2.polylines(mask, [np.round(corners).astype(np.int32)], True, 1, thickness)


def _legend(mask: np.ndarray, centre, half: float, rng: np.random.Generator) -> None:
    """Short strokes inside the border, as a seal's characters are."""
    for _ in range(40):
        x, y = (np.asarray(centre) + rng.uniform(-0.7, 0.7, 2) * half).astype(int)
        dx, dy = rng.integers(-8, 9, 2)
        cv2.line(mask, (int(x), int(y)), (int(x + dx), int(y + dy)), 1, 2)


@pytest.mark.parametrize("angle", [0.0, 17.0, 62.0])
def test_a_square_border_across_a_round_one_is_found_by_its_sides(angle):
    mask = np.zeros((300, 300), np.uint8)
    cv2.circle(mask, (170, 160), 95, 1, 3)  # the round seal's border, its text inside
    _legend(mask, (170, 160), 80, np.random.default_rng(1))
    _square(mask, (130, 140), 45.0, angle)
    _legend(mask, (130, 140), 45.0, np.random.default_rng(2))
    found = square_borders(mask > 0, SIDES, LINE)
    best = max(found, key=lambda s: s.support)
    assert math.dist(best.centre, (130, 140)) <= 3.0
    # its outer edge (a stroke of 3 px round half 45), within the 2 px a mask's edge is
    # found to; rectification fits the border itself afterwards
    assert abs(best.half - 46.5) <= 2.0
    assert abs((best.angle - angle + 45) % 90 - 45) <= 2.0


def test_a_round_border_and_a_page_of_characters_are_no_square():
    mask = np.zeros((300, 300), np.uint8)
    cv2.circle(mask, (150, 150), 100, 1, 3)  # its chords pair up a diameter apart
    rng = np.random.default_rng(3)
    for row in range(8):  # rows of characters: their strokes are short
        for col in range(10):
            _legend(mask[row * 36:row * 36 + 30, col * 30:col * 30 + 26], (13, 15), 12, rng)
    assert square_borders(mask > 0, SIDES, LINE) == []


def test_sides_are_measured_on_the_stroke_one_faded_side_least():
    mask = np.zeros((200, 200), np.uint8)
    _square(mask, (100, 100), 60.0, 0.0)
    mask[30:170, 155:170] = 0  # the right side faded out
    sides = side_supports(mask > 0, (100, 100), 60.0, 0.0, LINE)
    assert sides[0] < 0.1 and sides[1:].min() >= 0.95


def test_the_cells_of_a_table_printed_in_red_are_no_square_seal():
    # an e-invoice's grid: each cell a square of straight strokes with text inside, its
    # lines running on past its corners where a seal's border turns
    mask = np.zeros((400, 400), np.uint8)
    for k in range(0, 400, 90):
        cv2.line(mask, (k + 20, 0), (k + 20, 399), 1, 3)
        cv2.line(mask, (0, k + 20), (399, k + 20), 1, 3)
    rng = np.random.default_rng(4)
    for cx in range(65, 400, 90):
        for cy in range(65, 400, 90):
            _legend(mask, (cx, cy), 35, rng)
    assert square_borders(mask > 0, SIDES, LINE) == []

"""Ink separation: a seal's ink told from black print by colour, or on a grey copy by tone."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from imprint.ink import dot_periodicity, ink_masks, print_lines, seal_tone, separate


def _grey_crop(seal_grey: float, text_grey: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grey copy of a seal's ring crossed by a bar of text: the crop ``(H, W, 3) float32``
    divided by its paper, and the true masks of the ring and the bar."""
    ring = np.zeros((200, 200), np.uint8)
    cv2.circle(ring, (100, 100), 80, 1, 6)
    bar = np.zeros_like(ring)
    bar[95:105, :] = 1
    grey = np.ones(ring.shape, np.float32)
    grey[ring > 0] = seal_grey
    grey[bar > 0] = text_grey
    grey = cv2.GaussianBlur(grey, (0, 0), 0.7)
    return np.repeat(grey[..., None], 3, axis=2), ring > 0, bar > 0


def test_a_photocopied_seal_is_told_from_black_text_by_tone():
    crop, ring, bar = _grey_crop(0.45, 0.05)
    sep = separate(crop)
    assert sep.monochrome
    clear = ring & ~cv2.dilate(bar.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert sep.ink[clear].mean() > 0.8  # the seal's grey is its full ink
    assert sep.ink[bar].max() == 0.0  # the text is not the seal's ink...
    assert sep.occlusion[bar].all()  # ... but covers it: unknown there
    assert not sep.occlusion[clear].any()
    assert sep.occlusion.mean() < 0.1


def test_a_seal_copied_as_dark_as_the_text_keeps_all_its_ink():
    """A fax (black and white): nothing tells the seal from the text; all dark ink is kept
    rather than the seal marked as covered by itself."""
    crop, ring, _ = _grey_crop(0.03, 0.03)
    sep = separate(crop)
    assert sep.ink[ring].mean() > 0.8 and not sep.occlusion.any()


def test_seal_tone_keeps_the_grey_seal_and_drops_text_with_its_edges():
    crop, ring, bar = _grey_crop(0.45, 0.05)
    tone = seal_tone(crop)
    assert tone[ring & ~cv2.dilate(bar.astype(np.uint8), np.ones((9, 9), np.uint8)
                                   ).astype(bool)].mean() > 0.9
    assert not tone[cv2.dilate(bar.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0].any()


def test_a_faint_seal_under_dense_text_is_still_separated_by_tone():
    """Most dark pixels are text; the seal's light grey is still a seal's worth of ink."""
    crop, ring, _ = _grey_crop(0.7, 0.05)
    lines = np.zeros(ring.shape, bool)
    for y in range(4, 200, 18):  # a page of text: black bars 6 px tall, 12 apart
        lines[y:y + 6, :] = True
    crop[lines] = 0.05
    sep = separate(crop)
    assert sep.occlusion[lines].mean() > 0.95
    seen = ring & ~cv2.dilate(lines.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert seen.sum() > 50 and sep.ink[seen].mean() > 0.6


def _red_ring(colour_of: Callable[[np.random.Generator, int], np.ndarray], seed: int = 0
              ) -> np.ndarray:
    """A thick ring of red ink on white paper, each ring pixel's transmission from
    ``colour_of(rng, n)`` ``(n, 3)``, with a little scanner noise; ``(H, W, 3) float32``."""
    rng = np.random.default_rng(seed)
    ring = np.zeros((200, 200), np.uint8)
    cv2.circle(ring, (100, 100), 70, 1, 24)
    crop = np.ones((200, 200, 3), np.float32)
    crop[ring > 0] = colour_of(rng, int(ring.sum()))
    crop += rng.normal(0, 0.004, crop.shape).astype(np.float32)
    return np.clip(crop, 0.01, 1.0)


def _stamp_pad(rng: np.random.Generator, n: int) -> np.ndarray:
    """One red ink in amounts that vary from pixel to pixel (mottle, pressure)."""
    od = np.array([0.15, 1.6, 1.2], np.float32)
    return np.exp(-od[None] * rng.uniform(0.6, 1.0, (n, 1))).astype(np.float32)


def _process_colour(rng: np.random.Generator, n: int) -> np.ndarray:
    """Red as a printer lays it: magenta and yellow dots whose shares change from pixel to
    pixel (two screens at different angles), the same red on average."""
    magenta, yellow = np.array([0.1, 1.6, 0.5], np.float32), np.array([0.05, 0.1, 1.4])
    m, y = rng.uniform(0.3, 1.0, (n, 1)), rng.uniform(0.3, 1.0, (n, 1))
    return np.exp(-(m * magenta + y * yellow)).astype(np.float32)


def test_a_printers_magenta_and_yellow_dots_change_the_inks_colour_pixel_by_pixel():
    """Stamp-pad ink varies in amount, not in colour: its colour jitter stays at the noise;
    a printed red mixes two inks in changing shares."""
    stamp = separate(_red_ring(_stamp_pad)).colour_jitter
    printed = separate(_red_ring(_process_colour)).colour_jitter
    assert stamp is not None and printed is not None
    assert printed > 4 * stamp


def test_colour_jitter_needs_colour_and_ink():
    crop, _, _ = _grey_crop(0.45, 0.05)
    assert separate(crop).colour_jitter is None  # a grey copy: no colour to change
    blank = np.ones((200, 200, 3), np.float32)
    assert separate(blank).colour_jitter is None


def _faxed_paragraph(turned: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A black seal ring over a paragraph, all one ink as a fax prints it: (dark, beside,
    the rows of print)."""
    h = w = 400
    dark = np.zeros((h, w), np.uint8)
    cv2.circle(dark, (200, 200), 120, 1, 6)
    cv2.circle(dark, (200, 200), 30, 1, -1)  # the star
    rows = np.zeros(h, bool)
    rng = np.random.default_rng(5)
    for top in range(40, 360, 48):  # lines of 24 px characters, 24 px apart
        rows[top:top + 24] = True
        for x in range(10, 390, 28):
            if rng.random() < 0.9:  # a character: a few strokes in its cell
                cv2.rectangle(dark, (x, top + 2), (x + 20, top + 22), 1, 2)
                cv2.line(dark, (x + 10, top + 2), (x + 10, top + 22), 1, 2)
    yy, xx = np.mgrid[:h, :w]
    beside = np.hypot(xx - 200, yy - 200) > 1.08 * 123
    if turned:  # the page a quarter turned: the lines run down it
        return dark.T > 0, beside.T, rows
    return dark > 0, beside, rows


def test_lines_of_print_across_a_faxed_imprint_are_marked_as_covering_it():
    for turned in (False, True):
        dark, beside, rows = _faxed_paragraph(turned)
        covered = print_lines(dark, beside, 12.0)
        on_lines = rows[None, :] if turned else rows[:, None]
        inside = ~beside
        # the print under the seal, on the lines seen running past it, is covered ...
        assert covered[dark & inside & on_lines].mean() > 0.95
        # ... the seal's ink between the lines is not, nor is any paper
        assert not (covered & ~dark).any()
        between = dark & inside & ~np.broadcast_to(on_lines, dark.shape)
        between_rows = np.ones(400, bool)
        for top in range(40, 360, 48):
            between_rows[top - 3:top + 27] = False  # a line and its ascenders
        away = between & (between_rows[None, :] if turned else between_rows[:, None])
        assert away.any() and not covered[away].any()


def _hsv_page(pixels: list[tuple[tuple[slice, slice], tuple[int, int, int]]]) -> np.ndarray:
    """A paper-normalised page ``(H, W, 3) float32`` with each region painted one OpenCV HSV
    colour (hue 0..180, saturation and value 0..255)."""
    hsv = np.zeros((60, 120, 3), np.uint8)
    hsv[..., 2] = 255
    for (ys, xs), colour in pixels:
        hsv[ys, xs] = colour
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32) / 255


def test_a_violet_imprints_dull_strokes_count_where_they_join_its_saturated_ink():
    stroke = (slice(10, 14), slice(10, 30))
    dull_run = (slice(10, 14), slice(30, 60))
    dull_alone = (slice(40, 44), slice(30, 60))
    masks = ink_masks(_hsv_page([(stroke, (140, 90, 200)), (dull_run, (140, 35, 220)),
                                 (dull_alone, (140, 35, 220))]))
    assert masks.by_colour["violet"][stroke].all() and masks.saturated[stroke].all()
    assert masks.by_colour["violet"][dull_run].all()  # joined to the saturated stroke
    assert not masks.saturated[dull_run].any()  # ... and not judged by its tone
    assert not masks.any[dull_alone].any()  # paper's tint or noise, on its own


@pytest.mark.parametrize("hue", [5, 115])
def test_dull_red_or_blue_is_not_ink_even_beside_saturated_ink(hue):
    # red prints saturated however light; a ballpoint's blue has dull blurred edges
    masks = ink_masks(_hsv_page([((slice(10, 14), slice(10, 30)), (hue, 120, 200)),
                                 ((slice(10, 14), slice(30, 60)), (hue, 35, 220))]))
    assert masks.any[10:14, 10:30].all()
    assert not masks.any[10:14, 30:60].any()


#: Optical densities (R, G, B) of a stamp pad's red and of an app's orange badge: one hue class
#: for the colour masks, 17 degrees apart as densities
_RED_OD = np.array([0.15, 1.6, 1.2], np.float32)
_ORANGE_OD = np.array([0.04, 0.75, 1.9], np.float32)


def _badged_seal(badge: bool, blue_ring: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A red seal (a ring 8 px wide, radius 80, a solid disc for its star) on white paper,
    with a solid orange badge over its upper right, white text bars inside the badge, or a
    thin blue ring crossing it: the crop and the true masks."""
    h = w = 240
    rng = np.random.default_rng(3)
    masks = {}
    ring = np.zeros((h, w), np.uint8)
    cv2.circle(ring, (120, 120), 80, 1, 8)
    star = np.zeros_like(ring)
    cv2.circle(star, (120, 120), 20, 1, cv2.FILLED)
    od = np.zeros((h, w, 3), np.float32)
    seal = (ring | star) > 0
    od[seal] = _RED_OD * rng.uniform(0.7, 1.0, (int(seal.sum()), 1))
    masks["ring"], masks["star"] = ring > 0, star > 0
    if badge:
        disc = np.zeros_like(ring)
        cv2.circle(disc, (180, 60), 34, 1, cv2.FILLED)
        text = np.zeros_like(ring)
        for y in (48, 64):  # the badge's own white lettering
            text[y:y + 4, 162:198] = 1
        body = (disc > 0) & (text == 0)
        od[disc > 0] = 0.0
        od[body] = _ORANGE_OD
        masks["badge"] = disc > 0
    if blue_ring:
        blue = np.zeros_like(ring)
        cv2.circle(blue, (190, 120), 60, 1, 3)
        od[blue > 0] += np.array([1.2, 0.5, 0.1], np.float32)
        masks["blue"] = blue > 0
        inside = np.zeros_like(ring)
        cv2.circle(inside, (190, 120), 50, 1, cv2.FILLED)
        masks["blue_inside"] = (inside > 0) & ~seal
    crop = np.exp(-od) + rng.normal(0, 0.004, od.shape).astype(np.float32)
    return np.clip(crop, 0.01, 1.0).astype(np.float32), masks


def _hint(crop: np.ndarray) -> np.ndarray:
    return ink_masks(crop).by_colour["red"]


def test_a_solid_badge_of_the_seals_hue_class_covers_it_and_is_not_its_ink():
    crop, m = _badged_seal(badge=True)
    hint = _hint(crop)
    assert hint[m["badge"]].mean() > 0.5  # the colour masks take the orange for red ink
    sep = separate(crop, colour_hint=hint, solid_px=16)
    cos = float(sep.ink_od @ (_RED_OD / np.linalg.norm(_RED_OD)))
    assert cos > np.cos(np.radians(3))  # the strokes' red, not the badge's orange
    inner = cv2.erode(m["badge"].view(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert sep.occlusion[inner].all()  # the badge and its white lettering hide the seal
    clear_ring = m["ring"] & ~cv2.dilate(m["badge"].view(np.uint8), np.ones((9, 9))).astype(bool)
    assert not sep.occlusion[clear_ring].any()
    assert sep.ink[clear_ring].mean() > 0.6
    assert not sep.occlusion[m["star"]].any()  # the seal's own solid star is its ink
    # without the solid width, as before: the badge's pixels are read as the ink
    plain = separate(crop, colour_hint=hint)
    assert not plain.occlusion[inner].any()


def test_a_seal_with_nothing_foreign_is_separated_as_without_the_solid_width():
    crop, _ = _badged_seal(badge=False)
    hint = _hint(crop)
    a, b = separate(crop, colour_hint=hint, solid_px=16), separate(crop, colour_hint=hint)
    assert np.array_equal(a.ink, b.ink) and np.array_equal(a.occlusion, b.occlusion)


def test_another_inks_thin_ring_is_not_filled_as_a_patch():
    crop, m = _badged_seal(badge=False, blue_ring=True)
    sep = separate(crop, colour_hint=_hint(crop), solid_px=16)
    assert not sep.occlusion[m["blue_inside"]].any()  # paper inside the ring stays paper



@pytest.fixture(scope="module")
def seal_face():
    from imprint.synth.defects import new_seal
    from imprint.synth.design import SealSpec, layout

    spec = SealSpec("round_official", "河南森源重工有限公司", business_line="合同专用章",
                    code="4101020123456")
    return new_seal(layout(spec, "noto-serif-sc"), np.random.default_rng(5))


def _imprint_at(face, dpi: float, seed: int) -> tuple[np.ndarray, tuple[float, float], float]:
    """A genuine imprint's ink density at ``dpi``, with the scanner's blur; (ink, centre,
    radius px)."""
    from imprint.synth.stamping import StampConditions, stamp

    px = dpi / 25.4
    side = int(46 * px)
    density, _ = stamp(face, StampConditions(seed=seed), dpi=dpi, shape=(side, side),
                       centre=(side / 2, side / 2))
    return cv2.GaussianBlur(density, (0, 0), 0.5), (side / 2, side / 2), 21 * px


@pytest.mark.parametrize("dpi", [300, 600])
def test_a_printers_screen_is_periodic_at_the_captures_resolution_and_stamp_ink_is_not(
        seal_face, dpi):
    """A genuine imprint's strokes (a real typeface's, with their parallel stripes) stay
    far below the dots of that imprint printed through a 150-lpi screen and scanned at
    the same resolution; the dots are read where the canonical size would have averaged
    them away (600 dpi)."""
    from imprint.synth.forgery import halftone

    px = dpi / 25.4
    genuine, centre, radius = _imprint_at(seal_face, dpi, seed=3)
    known = np.ones(genuine.shape, bool)
    big = cv2.resize(genuine, None, fx=1200 / dpi, fy=1200 / dpi,
                     interpolation=cv2.INTER_LINEAR)
    dots = halftone(np.clip(big * 0.85, 0, 1), method="am", lpi=150, printer_dpi=1200,
                    angle_deg=75.0, rng=np.random.default_rng(0))
    printed = cv2.GaussianBlur(cv2.resize(dots, genuine.shape[::-1],
                                          interpolation=cv2.INTER_AREA), (0, 0), 0.5)
    stamp_reading = dot_periodicity(genuine, known, centre, radius, px)
    assert stamp_reading is not None and stamp_reading < 3.0
    assert dot_periodicity(printed, known, centre, radius, px) > stamp_reading + 1.0


def test_stamp_ink_reads_alike_at_a_fine_and_a_coarse_resolution(seal_face):
    """Each frequency is weighed against its own ring of the spectrum: the strokes' edges
    put power that falls with frequency, and against one median for the band a 600-dpi
    capture's lowest screen frequencies stood out by that slope alone (a stamped imprint
    read about 0.3 higher at 600 dpi than at 300)."""
    readings = {}
    for dpi in (300, 600):
        values = []
        for seed in range(3):
            ink, centre, radius = _imprint_at(seal_face, dpi, seed=seed)
            values.append(dot_periodicity(ink, np.ones(ink.shape, bool), centre, radius,
                                          dpi / 25.4))
        readings[dpi] = float(np.median(values))
    assert abs(readings[600] - readings[300]) < 0.2, readings


def test_jpeg_blocks_do_not_read_as_dots_and_coarse_captures_are_not_read(seal_face):
    px = 300 / 25.4
    genuine, centre, radius = _imprint_at(seal_face, 300, seed=4)
    known = np.ones(genuine.shape, bool)
    ys, xs = np.mgrid[0:genuine.shape[0], 0:genuine.shape[1]]
    blocky = np.clip(genuine * (1 + 0.1 * (((xs // 8) + (ys // 8)) % 2)), 0, 1)
    plain = dot_periodicity(genuine, known, centre, radius, px)
    assert dot_periodicity(blocky.astype(np.float32), known, centre, radius, px) < plain + 0.3
    coarse, centre, radius = _imprint_at(seal_face, 150, seed=4)
    assert dot_periodicity(coarse, np.ones(coarse.shape, bool), centre, radius,
                           150 / 25.4) is None


@pytest.mark.parametrize("n", [64, 77, 100, 431, 496, 497, 512, 1009])
def test_the_dot_window_is_cut_to_a_size_without_large_prime_factors(n):
    from imprint.ink import _smooth_size

    def smooth(m):
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        return m == 1
    m = _smooth_size(n)
    assert m <= n and smooth(m)
    assert not any(smooth(k) for k in range(m + 1, n + 1))  # the largest such

"""From measurements to a verdict with calibrated evidence.

Four outcomes, decided in this order:

1. ``inconclusive`` when the questioned imprint cannot carry a decision: too little of its
   border visible, too much of it covered, found only as a starved seal's scatter of faint
   dots, too little compared (:data:`QUALITY_GATE`);
2. ``different_seal`` when it does not even look like the master: once aligned, the ink
   correlation below a threshold set on zero-effort impostors (other filed seals) of the
   calibration set, unless what ink there is lies on the master's strokes (fewer of its
   strokes off them than any such impostor shows: starved ink, ``inconclusive``; nor where
   no character differs and the imprint itself is poor, :data:`POOR_CAPTURE`); or another
   character in one place (a look-alike name, another business line): strokes that differ
   both ways within one character-sized window (``substituted_ink``) beyond what 0.5 % of
   calibration genuine imprints show. A fax, whose print reads as the seal's strokes, that
   falls to either rule but correlates above every calibration fax of another seal is
   ``inconclusive`` instead;
3. ``suspected_forgery`` when the calibrated log10 likelihood ratio (same seal against
   forgery) is below the threshold set at 1 % of calibration genuine imprints flagged, and
   the imprint is good enough to say so; a marginal imprint (:data:`MARGINAL`) gets
   ``inconclusive`` instead, because ink, pressure and capture explain its differences as
   well as a forgery would;
4. ``genuine`` otherwise.

The log10 LR comes from one logistic fusion of the evidence features
(:data:`imprint.evidence.FEATURES`) per kind of forgery (genuine imprints against that kind),
fitted on training imprints, each mapped to a likelihood ratio on the calibration set (Platt
scaling, prior odds taken out), both from seeds kept apart from every test set; the ratio
against a forgery of any kind combines them, the kinds taken as equally likely
(:meth:`VerifierModel.log10_lr`). The fitted model lives in ``models/weights/verifier.json``
with the operating point of every threshold.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from imprint.errors import ResourceError
from imprint.rectify import clock_angle, clock_hour

MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "weights" / "verifier.json"

#: The features the fusion weighs (all measured by :func:`imprint.evidence.measure`).
#: Quality (border visible, occlusion, blur) is left out on purpose: it says how far the
#: evidence can be trusted, not which way it points, and decides only through the gates.
#: The star's size and turn against the master's are shown as sub-scores, not weighed:
#: fused, they changed nothing beyond noise (see docs/verification.md, "The star's size and turn").
FUSION_FEATURES = ("correlation", "extra_ink", "missing_ink", "substituted_ink", "chamfer_mm",
                   "local_shift_mm", "local_shift_p90_mm", "elastic_mm", "size_change",
                   "border_width_abs_mm", "edge_sharpness", "edge_core", "texture",
                   "periodicity", "pressure_pattern")

#: The questioned imprint's own quality below which it cannot carry a decision at all (and
#: not one found only as a starved seal's scatter of faint dots: its strokes, too faint for
#: any ink mask, leave the correlation and the strokes off the master's to the print and
#: pens across it).
QUALITY_GATE = {"border_visible": 0.5, "occluded_max": 0.5, "ink_scatter": False}
#: Share of the seal compared (known in both after alignment) below which an imprint that
#: does correlate with the master cannot be called genuine or forged. An imprint of good
#: quality that cannot be laid on the master at all is a different seal, whatever the area.
COMPARED_MIN = 0.5
#: Below any of these (or occluded above, or black print not told from the seal's ink: a fax),
#: differences from ink and capture cannot be told from a forgery's: a would-be
#: ``suspected_forgery`` is reported ``inconclusive``.
MARGINAL = {"border_visible": 0.85, "known": 0.7, "occluded_max": 0.3, "print_told_apart": True}

#: The questioned imprint's own part of :data:`MARGINAL`: below it, an imprint that correlates
#: too little with its master, with no character that differs, is not called another seal
#: (``inconclusive``). On development data (training seed 559) 8 of the 11 poor genuine
#: imprints judged another seal on their correlation alone fall short of it, and none of the 3
#: other seals' imprints that are. Not the share compared (``known``): a good imprint that
#: cannot be laid on the master at all is another seal; nor a fax (print not told from the
#: ink), which has its own rule (``fax_other_seal_correlation``): a fax below it stays
#: another seal whatever its border.
POOR_CAPTURE = {k: MARGINAL[k] for k in ("border_visible", "occluded_max")}

#: Sub-scores shown on the report, each with its own single-feature threshold from the
#: calibration set (the value 1 % of genuine imprints exceed, on the forgery side).
SUBSCORES = {
    "correlation": ("below", "aligned ink correlation", "1"),
    "extra_ink": ("above", "questioned strokes the master does not have", "share"),
    "substituted_ink": ("above", "strokes differ both ways in one place: another character",
                        "share"),
    "missing_ink": ("above", "master strokes the questioned imprint lacks", "share"),
    "local_shift_mm": ("above", "a patch sits elsewhere after the elastic allowance", "mm"),
    "elastic_mm": ("above", "smooth deformation beyond a rubber's give", "mm"),
    "border_width_abs_mm": ("above", "border width differs", "mm"),
    "star_size_abs_mm": ("above", "the star is of another size", "mm"),
    "star_angle_abs_deg": ("above", "the star is turned against the seal", "deg"),
    "edge_sharpness": ("below", "stroke edges softer than the master's", "ratio"),
    "periodicity": ("above", "periodic dots of a printer (halftone, dither)", "log10"),
    "pressure_pattern": ("below", "ink laid flat over the seal, as a printer lays it", "log"),
}


def derived(features: dict) -> dict:
    """The features plus those computed from them."""
    out = dict(features)
    for name in ("border_width_mm", "star_size_mm"):
        out[name.replace("_mm", "_abs_mm")] = abs(features.get(name, float("nan")))
    out["star_angle_abs_deg"] = abs(features.get("star_angle_deg", float("nan")))
    return out


#: The kinds of forgery the fusion weighs the evidence against, one model each: what
#: betrays a printed imitation (a printer's dots, flat colour) says nothing of a re-carving
#: (characters elsewhere), and one model fitted to them all weighs each kind's evidence by
#: how often it separates the mix.
FORGERY_KINDS = ("recarved_clear", "recarved_subtle", "photo_engraved", "printed")
FORGERY_NAMES = {"recarved_clear": "a re-carved seal",
                 "recarved_subtle": "a finely re-carved seal",
                 "photo_engraved": "a photo-engraved copy",
                 "printed": "a printed imitation"}


@dataclass
class VerifierModel:
    """The fitted fusion and its calibration. Each feature is standardised against genuine
    imprints (``median``, ``scale``; one not measured counts as a typical genuine value: no
    evidence either way); per forgery kind (``kinds``) logistic ``weights`` and ``bias`` give
    a score, and ``platt`` (a, b) maps it to the log10 likelihood ratio of the master's seal
    against that kind. The likelihood ratio against a forgery of any kind (each as likely a
    priori) is their harmonic combination; ``thresholds`` are the decision thresholds."""

    features: list[str]
    median: list[float]
    scale: list[float]
    kinds: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    subscore_thresholds: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def vector(self, features: dict) -> np.ndarray:
        f = derived(features)
        x = np.array([float(f.get(k, float("nan"))) for k in self.features])
        z = (x - np.array(self.median)) / np.array(self.scale)
        return np.nan_to_num(z, nan=0.0, posinf=6.0, neginf=-6.0).clip(-6, 6)

    def kind_scores(self, features: dict) -> dict[str, float]:
        """The fusion's score (log-odds, genuine over the kind, on its training mix) per
        forgery kind."""
        z = self.vector(features)
        return {k: float(z @ np.array(m["weights"]) + m["bias"]) for k, m in self.kinds.items()}

    def kind_log10_lr(self, features: dict) -> dict[str, float]:
        """log10 LR of the master's seal against each kind of forgery."""
        return {k: self.kinds[k]["platt"][0] * s + self.kinds[k]["platt"][1]
                for k, s in self.kind_scores(features).items()}

    def log10_lr(self, features: dict) -> float:
        """log10 LR of the master's seal against a forgery of any kind
        (:func:`against_any_kind`)."""
        return against_any_kind(self.kind_log10_lr(features))

    def save(self, path: Path = MODEL_PATH) -> None:
        tmp = path.with_suffix(".json.part")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> VerifierModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            model = cls(**data)
            if not model.kinds:
                raise ValueError("no kind of forgery is fitted")
            for m in model.kinds.values():
                if len(m["weights"]) != len(model.features) or len(m["platt"]) != 2:
                    raise ValueError("a forgery kind's weights do not match the features")
            return model
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ResourceError(f"the verifier model {path} cannot be read: {exc}") from exc


def against_any_kind(per_kind: dict[str, float]) -> float:
    """log10 LR against a forgery of any kind from those against each (``per_kind``), the
    kinds equally likely: 1 / mean(1 / LR_k), ruled by the kind the evidence fits best."""
    llr = np.array(list(per_kind.values()))
    low = float(llr.min())
    return low - math.log10(float(np.mean(10.0 ** (low - llr))))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50
                 ) -> tuple[np.ndarray, float]:
    """Weighted-balanced L2 logistic regression by Newton steps: (weights, bias)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    # each class weighs the same in total, however many of each there are
    cw = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1)) * n
    reg = l2 * np.eye(d + 1)
    reg[-1, -1] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(xb @ w)))
        g = xb.T @ (cw * (p - y)) / n + reg @ w
        h = (xb * (cw * p * (1 - p))[:, None]).T @ xb / n + reg
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) so that a*s + b is the log10 likelihood ratio of class 1 over class 0: a
    balanced logistic fit of the label on the score (the fit's log-odds at even priors are the
    log LR)."""
    w, b = fit_logistic(scores[:, None], y, l2=0.0)
    return float(w[0] / math.log(10)), float(b / math.log(10))


@dataclass(frozen=True)
class Decision:
    """The verdict, its log10 LR and score, the reasons in words, and ``against``: the log10
    LR against each kind of forgery (empty where the fusion was not asked: another seal, too
    little to decide)."""

    verdict: str
    log10_lr: float
    score: float
    reasons: tuple[str, ...]
    against: dict = field(default_factory=dict)


def quality_reasons(features: dict, limits: dict) -> list[str]:
    """Why the imprint falls short of ``limits`` (empty: it does not)."""
    out = []
    if features["border_visible"] < limits["border_visible"]:
        out.append(f"only {features['border_visible']:.0%} of the border is visible")
    if features["known"] < limits.get("known", 0.0):
        out.append(f"only {features['known']:.0%} of the seal can be compared "
                   "(covered, cut off or not found)")
    if features["occluded"] > limits.get("occluded_max", 1.0):
        out.append(f"{features['occluded']:.0%} of the imprint is covered by text or "
                   "signatures, or cut off by a sheet's edge")
    if not limits.get("ink_scatter", True) and features.get("ink_scatter"):
        out.append("the imprint was found only as a scatter of faint dots (a seal stamped "
                   "with too little ink): its strokes are too faint to compare")
    if limits.get("print_told_apart") and not features.get("print_told_apart", 1.0):
        out.append("black print cannot be told from the seal's ink here (a fax): print "
                   "across the imprint reads as its strokes")
    return out


def _clock(features: dict) -> str:
    """" at about 2 o'clock" for the worst window's place in the canonical frame (12 up)."""
    x, y = features.get("substituted_x"), features.get("substituted_y")
    if x is None or y is None:
        return ""
    return f" at about {clock_hour(clock_angle(x, y))}"


#: Said with a genuine verdict where a printer's dots could not be looked for: a printed
#: imitation is then told only by its flat ink and edges, and half of them pass on such
#: captures (see docs/verification.md, "A printer's flat colour").
DOTS_UNREAD = ("a printer's dots could not be looked for on this capture (under about 200 "
               "dpi, a grey copy or fax, or too little ink): a printed imitation is not ruled "
               "out by them; a colour scan of the original at 300 dpi or more would show them")


def decide(features: dict, model: VerifierModel, flagged: list[str]) -> Decision:
    """The verdict for an aligned, measured pair. ``flagged`` names the sub-scores past their
    own thresholds, for the reasons."""
    th = model.thresholds
    poor = quality_reasons(features, QUALITY_GATE)
    if poor:
        return Decision("inconclusive", 0.0, 0.5,
                        ("too little to decide: " + poor[0], *poor[1:]))
    uncorrelated = features["correlation"] < th["different_seal_correlation"]
    sub_t = th.get("different_seal_substitution")
    substituted = sub_t is not None and features.get("substituted_ink", 0.0) >= sub_t
    # a fax: lines of print read as the seal's strokes, lowering the correlation and adding
    # strokes to every window they cross; above every calibration fax of another seal, that
    # is no evidence of another seal
    fax_t = th.get("fax_other_seal_correlation")
    if ((uncorrelated or substituted) and fax_t is not None
            and not features.get("print_told_apart", 1.0)
            and features["correlation"] >= fax_t):
        return Decision("inconclusive", 0.0, 0.5, (
            "black print cannot be told from the seal's ink here (a fax): its lines read as "
            f"strokes; the aligned imprints correlate at {features['correlation']:.2f}, above "
            f"every faxed imprint of another seal in calibration ({fax_t:.2f}), but too little "
            "to say it is this seal",))
    # too little ink to be judged by its correlation: what there is lies on the master's
    # strokes (starved ink, a faint capture), where another seal's characters would not
    sparse_t = th.get("sparse_extra_ink")
    sparse = (uncorrelated and sparse_t is not None
              and features.get("extra_ink", 1.0) < sparse_t)
    if uncorrelated and not sparse:
        # no character differs, yet the whole correlates too little: another seal's layout,
        # a re-carving, or a poor capture of this one (half its border faded, under print)
        poor = (quality_reasons(features, POOR_CAPTURE)
                if not substituted and features.get("print_told_apart", 1.0) else [])
        if poor:
            return Decision("inconclusive", 0.0, 0.5, (
                f"the aligned imprints correlate at {features['correlation']:.2f}, below "
                f"{th['different_seal_correlation']:.2f}, but no character differs from the "
                "master's and the imprint is too poor to call it another seal: " + poor[0],
                *poor[1:]))
        return Decision("different_seal", -math.inf, 0.0, (
            f"the aligned imprints correlate at {features['correlation']:.2f}, below "
            f"{th['different_seal_correlation']:.2f}: not this seal",))
    if substituted:
        return Decision("different_seal", -math.inf, 0.0, (
            f"in one character-sized patch{_clock(features)} {features['substituted_ink']:.0%} "
            f"of the strokes differ both ways from the master's (at most {sub_t:.0%} in "
            "genuine imprints): another character there, not this seal",))
    if sparse:
        return Decision("inconclusive", 0.0, 0.5, (
            f"too little ink to decide: {features.get('missing_ink', 0.0):.0%} of the "
            f"master's strokes have no questioned stroke near, and only "
            f"{features['extra_ink']:.0%} of the questioned strokes lie off the master's "
            f"(another seal leaves {sparse_t:.0%} or more off them); the aligned imprints "
            f"correlate at {features['correlation']:.2f}",))
    if features["known"] < COMPARED_MIN:
        return Decision("inconclusive", 0.0, 0.5, (
            f"too little to decide: only {features['known']:.0%} of the seal can be compared "
            "(covered, cut off or not found)",))
    per_kind = model.kind_log10_lr(features)
    llr = against_any_kind(per_kind)
    score = 1 / (1 + 10 ** (-llr))
    if llr >= th["forgery_log10_lr"]:
        reasons = [f"the evidence favours the master's seal (log10 LR {llr:+.1f})"]
        if math.isnan(features.get("periodicity", math.nan)):
            reasons.append(DOTS_UNREAD)
        return Decision("genuine", llr, score, tuple(reasons), per_kind)
    likeliest = min(per_kind, key=per_kind.get)
    reasons = [f"the evidence favours a forgery (log10 LR {llr:+.1f}, threshold "
               f"{th['forgery_log10_lr']:+.1f}), most like "
               f"{FORGERY_NAMES.get(likeliest, likeliest)} (log10 LR against it "
               f"{per_kind[likeliest]:+.1f})"]
    reasons += [f"{name}: {SUBSCORES[name][1]}" for name in flagged]
    marginal = quality_reasons(features, MARGINAL)
    if marginal:
        lead = "differences found, but the imprint is too poor to call them a forgery: "
        return Decision("inconclusive", llr, score,
                        (lead + marginal[0], *marginal[1:], *reasons), per_kind)
    return Decision("suspected_forgery", llr, score, tuple(reasons), per_kind)

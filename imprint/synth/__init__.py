"""Generated seals and imprints with known ground truth.

Public API::

    SealSpec, layout, SealDesign      what is carved (design.py), in mm
    new_seal, SealFace                a physical seal with its stable defects (defects.py)
    render_face, render_centred       vector rasterisation at any dpi (render.py)
    StampConditions, stamp            one act of stamping (stamping.py)
    recarve, photo_engrave,
    print_imitation                   forgeries with stated parameters (forgery.py)
    imprint_scene, page_scene         imprints on paper, captured (scene.py, medium.py)
    make_registry, SealRecord         a generated registry (registry.py)
    build_dataset, DatasetConfig      images plus JSONL manifests (dataset.py)
"""

from imprint.synth.dataset import DatasetConfig, build_dataset, read_manifest
from imprint.synth.defects import new_seal
from imprint.synth.design import SEAL_KINDS, SealDesign, SealSpec, layout
from imprint.synth.forgery import FORGERY_KINDS, Forgery, photo_engrave, print_imitation, recarve
from imprint.synth.registry import SealRecord, make_registry
from imprint.synth.render import SealFace, render_centred, render_face
from imprint.synth.scene import ImprintTruth, Stamping, imprint_scene, page_scene
from imprint.synth.stamping import StampConditions, sample_conditions, stamp

__all__ = [
    "FORGERY_KINDS", "SEAL_KINDS", "DatasetConfig", "Forgery", "ImprintTruth", "SealDesign",
    "SealFace", "SealRecord", "SealSpec", "StampConditions", "Stamping", "build_dataset",
    "imprint_scene", "layout", "make_registry", "new_seal", "page_scene", "photo_engrave",
    "print_imitation", "read_manifest", "recarve", "render_centred", "render_face",
    "sample_conditions", "stamp",
]

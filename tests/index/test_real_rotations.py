"""Real imprints: one blue oval stamp of ../shared/data/real (stamps-labs_stamp2vec, 99*.bmp),
photographed once and turned digitally by 15 to 40 degrees, about 120 px across. The first is
filed; each other turn must be judged genuine against it, and all but one of them (the
40-degree one: its agreement falls short of the open-set threshold) identified as it."""

from __future__ import annotations

from imprint.io import load_page
from imprint.pipeline import rectified_imprints
from index.filing import file_master
from index.identify import SealSearch
from index.store import RegistryStore
from index.verify import verify
from tests.real import REAL, needs_real

STAMPS = REAL / "stamps-labs_stamp2vec"

pytestmark = needs_real


def test_turns_of_one_real_oval_stamp_are_genuine_and_identified(tmp_path):
    turns = sorted(STAMPS.glob("99*.bmp"))
    assert len(turns) == 6
    with RegistryStore.open(tmp_path) as store:
        search = SealSearch(store)
        file_master(search, turns[0], seal_id="oval", unit="university")
        verdicts, matched = {}, 0
        for path in turns[1:]:
            (page,) = load_page(path)
            found = rectified_imprints(page.image)
            assert len(found) == 1, path.name
            verdicts[path.name] = verify(search, found[0], "oval").comparison.verdict
            matched += search.identify(found)[0].match == "oval"
    assert set(verdicts.values()) == {"genuine"}, verdicts
    assert matched >= 4

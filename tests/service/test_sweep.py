"""``imprint sweep`` / ``imprint.sweep``: inputs of every kind, flags, failures listed not fatal,
resume after a real ``kill -9``, and the same records from one worker, two, and Ray."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imprint.compare import default_model
from imprint.synth.dataset import write_image
from imprint.synth.forgery import make_forgery
from imprint.synth.medium import Capture
from imprint.synth.registry import make_registry
from imprint.synth.scene import Stamping, genuine_stamping, imprint_scene
from imprint.synth.stamping import sample_conditions
from index.identify import SealSearch
from index.store import RegistryStore
from service.cli import main
from service.sweep import sweep
from service.sweep.flags import flag_meaning, imprint_flags, is_suspicious, priority
from service.sweep.journal import JOURNAL_NAME, Journal, read_journal
from service.sweep.worker import DocumentResult
from tests.slivers import sliver_page

DPI = 200
SCAN = Capture("scan", 0, 0.3, 0.003)
FILED = date(2015, 1, 1)
REVOKED = date(2024, 6, 30)
SEED = 4300
ROOT = Path(__file__).resolve().parents[2]


def _image(record, seed: int, *, forged: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    face = record.face()
    if forged:
        forgery = make_forgery("recarved", face, rng, "clear")
        st = Stamping(forgery.face, sample_conditions(rng, "clean"), record.spec.ink, None,
                      record.seal_id, forgery)
    else:
        st = genuine_stamping(face, rng, ink=record.spec.ink, seal_id=record.seal_id,
                              quality="clean")
    image, _ = imprint_scene(st, dpi=DPI, rng=rng, clutter=False, capture=SCAN)
    return image


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A registry of 4 filed seals (seal 2 revoked on 2024-06-30) and an archive: a folder of
    scans (genuine imprints, a re-carved forgery, an unregistered seal, the revoked seal used
    before and after its revocation, one file under two names, a broken JPEG and a text
    file), a two-page PDF, a zip archive, and a dates file."""
    root = tmp_path_factory.mktemp("sweep")
    records = [r for r in make_registry(40, np.random.default_rng(SEED), lookalike_rate=0,
                                        sibling_rate=0) if r.spec.kind == "round_official"]
    filed, stranger = records[:4], records[4]
    store = RegistryStore.open(root / "registry")
    for i, rec in enumerate(filed):
        unit = store.add_unit(rec.unit_name, rec.credit_code)
        store.file_seal(rec.seal_id, unit, rec.spec.kind, filed_at=FILED)
        write_image(root / f"master_{i}.png", _image(rec, SEED + i), DPI)
        store.add_master(rec.seal_id, (root / f"master_{i}.png").read_bytes(), dpi=DPI)
    store.record_event(filed[2].seal_id, "revoked", REVOKED)
    SealSearch(store).index()
    store.close()

    docs = root / "archive"
    images = {"2023/genuine_0.png": _image(filed[0], SEED + 100),
              "2023/genuine_1.png": _image(filed[1], SEED + 101),
              "2023/revoked_seal_before.png": _image(filed[2], SEED + 102),
              "2025/revoked_seal_after.png": _image(filed[2], SEED + 103),
              "2025/forgery_of_3.png": _image(filed[3], SEED + 104, forged=True),
              "2025/unregistered.png": _image(stranger, SEED + 105)}
    for rel, image in images.items():
        write_image(docs / rel, image, DPI)
    (docs / "2025" / "copy_of_genuine_0.png").write_bytes(
        (docs / "2023" / "genuine_0.png").read_bytes())
    good = (docs / "2023" / "genuine_1.png").read_bytes()
    (docs / "2025" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    (docs / "2025" / "notes.txt").write_text("not a document")
    # a two-page PDF: a page without a seal, then the stamped page
    blank = Image.new("RGB", (800, 800), (250, 249, 244))
    blank.save(root / "contract.pdf", "PDF", resolution=DPI, save_all=True,
               append_images=[Image.fromarray(_image(filed[1], SEED + 106))])
    with zipfile.ZipFile(root / "filings.zip", "w") as z:
        z.writestr("box1/genuine_1.png", good)
        z.writestr("box1/truncated.png", good[: len(good) // 3])
        z.writestr("box1/readme.txt", "ignored")
    (root / "dates.csv").write_text(
        "file,date\n"
        "2023/revoked_seal_before.png,2023-03-01\n"
        "revoked_seal_after.png,2025-02-01\n")
    return {"root": root, "registry": str(root / "registry"), "docs": docs,
            "seals": [r.seal_id for r in filed],
            "inputs": [str(docs), str(root / "*.pdf"), str(root / "filings.zip")]}


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "imprints.jsonl").read_text().splitlines()]


def _by_file(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(Path(r["file"]).name, []).append(r)
    return out


@pytest.fixture(scope="module")
def local_sweep(archive):
    out = archive["root"] / "out_local"
    summary = sweep(archive["inputs"], out, registry=archive["registry"],
                    dates=archive["root"] / "dates.csv", workers=1, progress=False)
    return summary, out


def test_every_kind_of_input_is_swept_and_failures_are_listed(archive, local_sweep):
    summary, out = local_sweep
    assert summary.exit_code == 2  # the broken files are listed, and the exit code says so
    failed = {Path(f.file).name: f.code for f in summary.failures}
    assert set(failed) == {"broken.jpg", "truncated.png"}
    assert set(failed.values()) <= {"unreadable_input", "unsupported_format"}

    by_file = _by_file(_records(out))
    # directory (recursive), glob (the PDF, its seal on page 2) and zip members all swept
    assert {"genuine_0.png", "genuine_1.png", "revoked_seal_before.png",
            "revoked_seal_after.png", "forgery_of_3.png", "unregistered.png",
            "contract.pdf"} <= set(by_file)
    assert [r["page"] for r in by_file["contract.pdf"]] == [1]
    # the zip's member has the content of a scan in the folder: listed beside it
    (g1,) = by_file["genuine_1.png"]
    assert g1["file"].endswith("2023/genuine_1.png")
    assert g1["also_at"] == [str(archive["root"] / "filings.zip" / "box1" / "genuine_1.png")]
    # the same content under two names is examined once, the other name listed beside it
    (g0,) = by_file["genuine_0.png"]
    assert "copy_of_genuine_0.png" not in by_file
    assert [Path(p).name for p in g0["also_at"]] == ["copy_of_genuine_0.png"]
    assert g0["match"] == archive["seals"][0] and g0["sha256"]

    rows = list(csv.DictReader((out / "documents.csv").open(encoding="utf-8-sig")))
    assert {Path(r["file"]).name for r in rows if r["state"] == "failed"} == set(failed)
    assert not any(r["file"].endswith(".txt") for r in rows)  # not a document: skipped
    assert summary.skipped == 1
    assert summary.documents == len(rows)
    assert json.loads((out / "sweep.json").read_text())["exit_code"] == 2


def test_flags_and_dates(archive, local_sweep):
    _, out = local_sweep
    by_file = _by_file(_records(out))
    revoked_seal = archive["seals"][2]
    (before,) = by_file["revoked_seal_before.png"]
    (after,) = by_file["revoked_seal_after.png"]
    # the same seal: usable on the date of the 2023 filing, revoked on the 2025 one
    assert before["match"] == after["match"] == revoked_seal
    assert before["date"] == "2023-03-01" and before["status"] == "active"
    assert "seal_revoked" not in before["flags"]
    assert after["date"] == "2025-02-01" and after["status"] == "revoked"
    assert "seal_revoked" in after["flags"] and after["status_flag"]
    (stranger,) = by_file["unregistered.png"]
    assert stranger["match"] is None and stranger["flags"] == ["no_registered_seal"]
    # a re-carving is examined like any imprint; whether it is caught is the verifier's
    # accuracy (python -m bench verify), not the sweep's: its flags are tested below
    (forged,) = by_file["forgery_of_3.png"]
    review_below = default_model().thresholds.get("review_log10_lr")
    assert forged["candidates"] and forged["flags"] == list(
        imprint_flags(forged["match"], forged["status"], forged["verdict"], forged["log10_lr"],
                      review_below))
    for r in by_file["genuine_0.png"] + by_file["genuine_1.png"]:
        assert r["verdict"] is not None and r["score"] == r["candidates"][0]["score"]

    html = (out / "summary.html").read_text()
    assert "data:image/jpeg;base64," in html and "broken.jpg" in html
    flagged_at, clean_at = html.index("Flagged imprints"), html.index("Clean imprints")
    # flagged first: the revoked use and the unregistered seal are listed before the clean
    assert flagged_at < html.index("revoked_seal_after.png") < clean_at
    assert flagged_at < html.index("unregistered.png") < clean_at
    assert html.index("revoked_seal_before.png") > flagged_at
    # each flag says what it means where it is shown
    assert f"title='{flag_meaning('no_registered_seal')}'" in html


def test_two_workers_give_the_same_records(archive, local_sweep):
    _, reference = local_sweep
    out = archive["root"] / "out_two"
    summary = sweep(archive["inputs"], out, registry=archive["registry"],
                    dates=archive["root"] / "dates.csv", workers=2, progress=False)
    assert summary.examined == summary.documents  # duplicates are one document
    assert (out / "imprints.jsonl").read_bytes() == (reference / "imprints.jsonl").read_bytes()
    assert (out / "documents.csv").read_bytes() == (reference / "documents.csv").read_bytes()


def test_ray_gives_the_same_records_as_local(archive, local_sweep):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'imprint[ray]' "
                                      "(it is in the dev extra, so CI runs this test)")
    _, reference = local_sweep
    out = archive["root"] / "out_ray"
    summary = sweep(archive["inputs"], out, registry=archive["registry"],
                    dates=archive["root"] / "dates.csv", workers=2, engine="ray",
                    progress=False)
    assert summary.engine == "ray" and summary.exit_code == 2
    assert (out / "imprints.jsonl").read_bytes() == (reference / "imprints.jsonl").read_bytes()


def test_resume_after_kill_9_loses_nothing_and_repeats_nothing(archive, tmp_path):
    # ten documents of distinct content (one pixel apart): enough to be killed midway
    base = np.asarray(Image.open(archive["docs"] / "2023" / "genuine_0.png"))
    docs = tmp_path / "docs"
    for i in range(10):
        image = base.copy()
        image[0, i] = (i, 0, 0)
        write_image(docs / f"filing_{i:02d}.png", image, DPI)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "service.cli", "sweep", str(docs), "--out", str(out),
           "--registry", archive["registry"], "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    journal = out / JOURNAL_NAME
    deadline = time.monotonic() + 120
    try:
        while not (journal.is_file() and journal.read_bytes().count(b"\n") >= 3):
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and anything it started
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    _, before = read_journal(journal)
    assert 2 <= len(before) < 10, "killed in the middle"
    with journal.open("ab") as f:  # as if killed while writing a line
        f.write(b'{"sha256": "torn')

    code = main(["sweep", str(docs), "--out", str(out), "--registry", archive["registry"],
                 "--resume", "--json"])
    assert code in (0, 1)
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["reused"] == len(before) and summary["examined"] == 10 - len(before)
    records = _records(out)
    assert sorted(Path(r["file"]).name for r in records) == [f"filing_{i:02d}.png"
                                                              for i in range(10)]
    assert len({r["sha256"] for r in records}) == 10
    # every line of the journal whole; each document journaled exactly once
    lines = journal.read_text().splitlines()
    shas = [json.loads(line)["sha256"] for line in lines[1:]]
    assert len(shas) == len(set(shas)) == 10
    # a resume of a finished sweep examines nothing and writes the same results
    first = (out / "imprints.jsonl").read_bytes()
    again = sweep(str(docs), out, registry=archive["registry"], resume=True, progress=False)
    assert again.examined == 0 and (out / "imprints.jsonl").read_bytes() == first


def test_a_cross_page_sliver_matching_nothing_is_inconclusive_not_unregistered(archive,
                                                                               tmp_path):
    """A contract sheet's edge carries a sliver of a seal stamped across the sheets: too
    little of it to tell whether it is filed, so it is for a person to look at (tier 2), not
    an unregistered seal."""
    page, _ = sliver_page("side")
    write_image(tmp_path / "docs" / "contract_p3.png", page, DPI)
    out = tmp_path / "out"
    sweep([str(tmp_path / "docs")], out, registry=archive["registry"], workers=1,
          progress=False)
    (rec,) = _records(out)
    assert rec["match"] is None and rec["verdict"] == "inconclusive"
    assert rec["flags"] == ["inconclusive"] and not is_suspicious(rec["flags"])


def test_flags_order_what_a_person_should_see_first():
    assert imprint_flags(None, None, None) == ("no_registered_seal",)
    assert imprint_flags("S1", "active", "genuine") == ()
    assert imprint_flags("S1", "revoked", "genuine") == ("seal_revoked",)
    assert imprint_flags("S1", "lost", "suspected_forgery") == ("suspected_forgery", "seal_lost")
    assert imprint_flags("S1", "active", "different_seal") == ("different_seal",)
    assert imprint_flags("S1", "active", "inconclusive") == ("inconclusive",)
    assert imprint_flags("S1", "active", None) == ("not_compared",)
    # matching nothing with too little of it on the page: no accusation of an unfiled seal
    assert imprint_flags(None, None, "inconclusive") == ("inconclusive",)
    ranked = sorted([("inconclusive",), (), ("no_registered_seal",), ("suspected_forgery",),
                     ("seal_revoked",)], key=priority)
    assert ranked == [("suspected_forgery",), ("seal_revoked",), ("no_registered_seal",),
                      ("inconclusive",), ()]
    assert is_suspicious(("seal_suspended",)) and not is_suspicious(("inconclusive",))


def test_a_genuine_verdict_on_weak_evidence_is_sent_for_review():
    """Below the verifier's review threshold a genuine verdict is flagged for a person (tier
    2, after every accusation); at or above it, or without a threshold, it is clean."""
    assert imprint_flags("S1", "active", "genuine", -0.5, -0.27) == ("weak_evidence",)
    assert imprint_flags("S1", "active", "genuine", 0.1, -0.27) == ()
    assert imprint_flags("S1", "active", "genuine", -0.27, -0.27) == ()
    assert imprint_flags("S1", "active", "genuine", -0.5, None) == ()
    # a seal used while revoked is the reason to look first, the weak evidence beside it
    assert imprint_flags("S1", "revoked", "genuine", -0.5, -0.27) == ("seal_revoked",
                                                                      "weak_evidence")
    # only a genuine verdict: the others carry their own flag
    assert imprint_flags("S1", "active", "inconclusive", -2.0, -0.27) == ("inconclusive",)
    assert not is_suspicious(("weak_evidence",))
    assert sorted([("weak_evidence",), ("inconclusive",)], key=priority) == [
        ("inconclusive",), ("weak_evidence",)]


def test_the_committed_verifier_has_a_review_threshold_below_its_operating_point():
    """The sweep reads its review threshold from the verifier: set on calibration genuine
    imprints at a larger share of them than the forgery threshold."""
    t = default_model().thresholds
    assert t["forgery_log10_lr"] < t["review_log10_lr"] < 0.5


def test_the_journal_ignores_a_torn_line_and_refuses_to_be_overwritten(tmp_path):
    header = {"registry": "r", "model_id": "m", "imaging": 2, "threshold": 0.5}
    result = DocumentResult("ab" * 32, "a.png", None, "done", 1, (), None, 0.1)
    with Journal.open(tmp_path, header, resume=False) as journal:
        journal.append(result)
    with (tmp_path / JOURNAL_NAME).open("ab") as f:
        f.write(b'{"sha256": "cd')
    with pytest.raises(Exception, match="--resume"):
        Journal.open(tmp_path, header, resume=False)
    with pytest.raises(Exception, match="would not mix"):
        Journal.open(tmp_path, {**header, "model_id": "other"}, resume=True)
    with pytest.raises(Exception, match=r"imaging 2.*uses 3.*would not mix"):
        Journal.open(tmp_path, {**header, "imaging": 3}, resume=True)
    with Journal.open(tmp_path, header, resume=True) as journal:
        assert list(journal.entries) == [result.sha256]
        journal.append(DocumentResult("cd" * 32, "b.png", None, "done", 2, (), None, 0.1))
    _, entries = read_journal(tmp_path / JOURNAL_NAME)
    assert [e.name for e in entries.values()] == ["a.png", "b.png"]


def test_exit_codes_and_json(archive, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["sweep", str(empty), "--out", str(tmp_path / "o1"), "--registry",
                 archive["registry"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 0
    stranger = archive["docs"] / "2025" / "unregistered.png"
    assert main(["sweep", str(stranger), "--out", str(tmp_path / "o2"), "--registry",
                 archive["registry"], "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["flags"] == {"no_registered_seal": 1} and payload["exit_code"] == 1
    assert main(["sweep", str(tmp_path / "missing" / "*.jpg"), "--out", str(tmp_path / "o3"),
                 "--registry", archive["registry"], "--json"]) == 2
    capsys.readouterr()
    # the same output directory again, without --resume: refused, nothing overwritten
    assert main(["sweep", str(stranger), "--out", str(tmp_path / "o2"), "--registry",
                 archive["registry"]]) == 2
    assert "--resume" in capsys.readouterr().err


def test_imprint_sweep_is_reached_lazily_from_the_core():
    code = ("import sys, imprint; "
            "assert 'service.sweep' not in sys.modules and 'torch' not in sys.modules; "
            "from service.sweep import sweep; assert imprint.sweep is sweep; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr

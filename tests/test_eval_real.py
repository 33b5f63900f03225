"""scripts/eval_real.py: labelled-vacancy scores, in particular which calls the labels can judge."""
import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "eval_real.py"
spec = importlib.util.spec_from_file_location("eval_real", SCRIPT)
eval_real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eval_real)

PX = 0.4  # Å per pixel: the match radius is 0.5 · 1.895 Å / 0.4 ≈ 2.37 px


def report(calls, atoms):
    return {
        "image": {"pixel_size_angstrom": PX},
        "vacancies": [{"x": x, "y": y, "in_contaminated_area": dirty} for x, y, dirty in calls],
        "atoms": [{"x": x, "y": y, "in_contaminated_area": dirty} for x, y, dirty in atoms],
    }


def write_sites(tmp_path, rows):
    path = tmp_path / "sites.csv"
    path.write_text("x_px,y_px,label\n" + "".join(f"{x},{y},{label}\n" for x, y, label in rows))
    return path


def test_the_field_is_the_box_every_labelled_site_spans(tmp_path):
    path = write_sites(tmp_path, [(9, 9, "W"), (503, 40, "Se2"), (50, 503, "Se_vacancy"), (200, 200, "Se_vacancy")])
    vacancies, field = eval_real.labelled_sites(path)
    assert vacancies == [(50.0, 503.0), (200.0, 200.0)]
    assert field == (9.0, 503.0, 9.0, 503.0)
    assert eval_real.in_field(field, 9.0, 503.0) and not eval_real.in_field(field, 8.9, 100.0)


def test_unmatched_calls_outside_the_labelled_field_are_counted_apart():
    labels = [(100.0, 100.0), (200.0, 200.0), (300.0, 300.0), (10.0, 150.0)]
    field = (9.0, 503.0, 9.0, 503.0)
    calls = [
        (100.5, 100.0, False),  # true, inside
        (201.0, 199.0, False),  # true, inside
        (8.0, 150.0, True),  # true although outside the box: matched to the label at x = 10
        (400.0, 400.0, False),  # false, inside
        (3.0, 250.0, False),  # unmatched, outside: not judged
        (505.0, 505.0, True),  # unmatched, outside: not judged
    ]
    atoms = [(x, y, False) for x, y in labels[:3]] + [(10.0, 150.0, True)]
    s = eval_real.labelled_scores(report(calls, atoms), labels, field)
    assert s["found_vacancies"] == 6 and s["outside_labelled_field"] == 2
    assert s["precision"] == pytest.approx(3 / 4)
    assert s["precision_whole_frame"] == pytest.approx(3 / 6)
    assert s["recall"] == pytest.approx(3 / 4)
    # Kept area: the label at x = 10 sits on a flagged column, the calls there are flagged.
    assert s["labelled_kept"] == 3
    assert s["outside_labelled_field_kept"] == 1
    assert s["precision_kept"] == pytest.approx(2 / 3)
    assert s["precision_kept_whole_frame"] == pytest.approx(2 / 4)
    assert s["recall_kept"] == pytest.approx(2 / 3)


def test_a_call_matches_one_label_only():
    labels = [(100.0, 100.0)]
    calls = [(100.5, 100.0, False), (99.0, 100.0, False)]
    s = eval_real.labelled_scores(report(calls, [(100.0, 100.0, False)]), labels, (0.0, 512.0, 0.0, 512.0))
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(1.0)
    assert math.isclose(eval_real.WSE2_COLUMN_SPACING_A, 3.282 / math.sqrt(3))

"""``srn.formats.registry``: every registered format round-trips, says truly what it can hold, and is
the one list every tool offers (``srn convert``, label import, export, evaluation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srn.formats.records import Annotation
from srn.formats.registry import FORMATS, fit_to_format, format_names, get_format, read_labels, write_labels

W, H = 200, 150


def _annotations(with_scores: bool = False) -> list[Annotation]:
    """Three images (one without faces), whole-pixel boxes, one ignored face, one WIDER attribute set."""
    a = Annotation(name="ev1/a.jpg", boxes=np.array([[10.0, 12, 39, 51], [100, 20, 129, 60]]), width=W, height=H,
                   ignore=np.array([False, True]), attributes=np.array([[1, 0, 0, 0, 2, 0], [0, 0, 0, 1, 0, 0]]))
    b = Annotation(name="ev1/b.jpg", boxes=np.array([[0.0, 0, 19, 24]]), width=W, height=H,
                   ignore=np.array([False]), attributes=np.zeros((1, 6), np.int64))
    c = Annotation(name="ev2/c.jpg", boxes=np.zeros((0, 4)), width=W, height=H, ignore=np.zeros(0, bool),
                   attributes=np.zeros((0, 6), np.int64))
    if with_scores:
        for ann, scores in ((a, [0.9, 0.4]), (b, [0.75]), (c, [])):
            ann.scores = np.array(scores, dtype=np.float64)
    return [a, b, c]


def _stem(name: str) -> str:
    return Path(name).with_suffix("").name


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.readable and f.writable])
def test_every_readable_and_writable_format_round_trips(tmp_path: Path, name: str) -> None:
    fmt = get_format(name)
    anns = _annotations(with_scores=fmt.kind == "predictions")
    out = tmp_path / ("out" + fmt.suffix)
    fitted, _ = fit_to_format(name, anns)
    write_labels(name, fitted, out)
    back = {(_stem(a.name) if not fmt.image_names else a.name.removesuffix(".jpg")): a
            for a in read_labels(name, out)}
    for ann in anns:
        key = _stem(ann.name) if not fmt.image_names else ann.name.removesuffix(".jpg")
        got = back[key] if key in back else back[ann.name]
        np.testing.assert_allclose(got.boxes, ann.boxes, atol=1e-6, err_msg=f"{name}: {ann.name}")
        if fmt.ignore:
            assert got.ignore_or_false.tolist() == ann.ignore_or_false.tolist(), name
        if fmt.attributes:
            np.testing.assert_array_equal(got.attributes, ann.attributes)
        if fmt.kind == "predictions":
            np.testing.assert_allclose(got.scores, ann.scores, atol=1e-3)
    assert len(back) == len(anns)  # an image without faces is written and read back too


def test_yolo_is_written_with_its_sizes_and_reads_back_with_them(tmp_path: Path) -> None:
    from srn.formats import yolo

    write_labels("yolo", _annotations(), tmp_path / "yolo")
    for ann in _annotations():
        boxes = yolo.read_yolo(tmp_path / "yolo" / Path(ann.name).with_suffix(".txt"), W, H)
        np.testing.assert_allclose(boxes, ann.boxes, atol=1e-3)
    assert not get_format("yolo").readable and "yolo" not in format_names(readable=True)


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.writable and f.needs_sizes])
def test_formats_that_need_sizes_refuse_unsized_images_before_writing(tmp_path: Path, name: str) -> None:
    anns = _annotations()
    anns[1].width = None
    out = tmp_path / ("out" + get_format(name).suffix)
    with pytest.raises(ValueError, match="needs image sizes.*ev1/b.jpg"):
        write_labels(name, anns, out)
    assert not out.exists()


def test_what_a_format_cannot_hold_is_said_not_lost_silently() -> None:
    empty = Annotation(name="x/e.jpg", boxes=np.array([[5.0, 5, 4, 20], [1, 1, 10, 10]]), width=W, height=H,
                       ignore=np.array([False, True]))
    for name, fmt in FORMATS.items():
        if fmt.kind != "ground_truth" or not fmt.writable:
            continue
        fitted, warnings = fit_to_format(name, [empty])
        assert len(fitted[0].boxes) == (2 if fmt.empty_boxes else 1), name
        assert any("without pixels" in w for w in warnings) == (not fmt.empty_boxes), name
        assert any("ignored faces written as faces" in w for w in warnings) == (not fmt.ignore), name


def test_a_missing_input_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file \\(a COCO .json file expected\\)"):
        read_labels("coco", tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match="no such folder \\(a folder of DARK FACE labels expected\\)"):
        read_labels("darkface", tmp_path / "nope")
    with pytest.raises(ValueError, match="must be one of wider, darkface, coco"):
        get_format("pascal")


def test_every_tool_offers_the_registered_formats() -> None:
    from app.jobs.evaluate_job import LABEL_FORMATS as EVALUATED
    from app.store.export import EXPORT_FORMATS
    from app.store.labels import LABEL_FORMATS as IMPORTED
    from srn.commands.convert import FROM_FORMATS, TO_FORMATS

    readable, writable = format_names(readable=True), format_names(writable=True)
    assert FROM_FORMATS == readable == IMPORTED == EVALUATED[1:] and EVALUATED[0] == "auto"
    assert TO_FORMATS == writable
    assert EXPORT_FORMATS == format_names(kind=None, writable=True)
    assert set(readable) >= {"wider", "darkface", "coco", "voc"} and set(writable) >= {"voc", "yolo"}

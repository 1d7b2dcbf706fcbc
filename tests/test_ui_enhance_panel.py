"""The enhancement panel, previewer, presets, histogram and cache on real widgets and a real project."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from app.jobs.enhance_job import EnhancedImageCache, EnhancePreviewer
from app.store import NotFoundError, Project, StoreError
from app.store.presets import delete_preset, list_presets, load_preset, preset_names, save_preset
from app.store.tables import EnhancementPreset
from app.ui.enhance_panel import COMMIT_DELAY_MS, EnhancePanel, ParamSlider
from app.ui.histogram import BINS, LuminanceHistogram, luma_histogram
from srn.enhance import CLAHEParams, GammaParams, MSRCRParams, enhance, get_method
from srn.enhance.preview import PreviewSession

SIGMA_MAX = 600.0  # MSRCR's σ spec: 1..600 px, log scale
SIGMA_MIN = 1.0


@pytest.fixture
def panel(qtbot) -> EnhancePanel:
    panel = EnhancePanel()
    qtbot.addWidget(panel)
    panel.show()
    return panel


@pytest.fixture
def project(tmp_path: Path):
    project = Project.create(tmp_path / "p.db")
    yield project
    project.close()


@pytest.fixture(scope="module")
def night() -> np.ndarray:
    """A real photo darkened to night levels (0..38 of 255)."""
    return (data.astronaut().astype(np.float32) * 0.15).astype(np.uint8)


@pytest.fixture
def previewer(qtbot):
    previewer = EnhancePreviewer(max_width=256)
    yield previewer
    assert previewer.stop()
    assert not previewer.is_running()


class Recorder:
    def __init__(self, signal) -> None:
        self.items = []
        signal.connect(lambda *args: self.items.append(args if len(args) > 1 else args[0]))


def choose(combo, data) -> None:
    """Pick an item the way a user does (``activated`` is the user-only signal)."""
    index = combo.findData(data)
    index = index if index >= 0 else combo.findText(data)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


# -- panel ------------------------------------------------------------------------------------------

def test_sliders_follow_the_offered_params_of_method_and_mode(panel: EnhancePanel) -> None:
    msrcr = MSRCRParams()
    assert panel.params() == msrcr
    assert panel.control_keys() == ["sigmas[0]", "sigmas[1]", "sigmas[2]", "output", "low_clip", "high_clip", "alpha"]
    assert [s.name for s in msrcr.offered_specs()] == ["sigmas", "output", "low_clip", "high_clip", "alpha"]
    assert panel.auto_check.isVisibleTo(panel)
    assert all(isinstance(panel.control(k), ParamSlider) for k in panel.control_keys() if k != "output")

    choose(panel.control("output"), "canonical")  # gain, offset and β only matter here
    assert panel.params().output == "canonical"
    assert set(panel.control_keys()) == {"sigmas[0]", "sigmas[1]", "sigmas[2]", "output", "gain", "offset", "alpha",
                                         "beta"}

    choose(panel.method_combo, "gamma")
    assert panel.params() == GammaParams() and panel.control_keys() == ["gamma"]
    assert not panel.auto_check.isVisibleTo(panel)
    choose(panel.method_combo, "clahe")
    assert panel.params() == CLAHEParams() and panel.control_keys() == ["clip_limit", "tiles"]
    assert panel.control("tiles").slider.maximum() == 64  # int: one position per value
    choose(panel.method_combo, "msrcr")  # comes back with what it had
    assert panel.params() == MSRCRParams(output="canonical")
    panel.reset()
    assert panel.params() == MSRCRParams()


def test_auto_toggle_selects_automated_clipping_and_back(panel: EnhancePanel) -> None:
    changed = Recorder(panel.params_changed)
    panel.auto_check.setChecked(True)
    assert panel.params().output == "auto" and changed.items[-1].output == "auto"
    assert "low_clip" not in panel.control_keys()  # the clip percentages do nothing in auto mode
    assert panel.control("output").currentText() == "auto"
    panel.auto_check.setChecked(False)
    assert panel.params().output == "balance" and "low_clip" in panel.control_keys()


def test_sigma_slider_emits_live_then_commits_once(qtbot, panel: EnhancePanel) -> None:
    changed, committed = Recorder(panel.params_changed), Recorder(panel.params_committed)
    control = panel.control("sigmas[2]")
    slider = control.slider
    with qtbot.waitSignal(panel.params_changed, timeout=1000) as blocker:
        slider.setValue(slider.maximum())
    assert blocker.args[0].sigmas == (15.0, 80.0, SIGMA_MAX)
    slider.setValue(slider.minimum())
    assert changed.items[-1].sigmas == (15.0, 80.0, SIGMA_MIN)
    slider.setValue((slider.minimum() + slider.maximum()) // 2)  # log scale: the middle is √(1·600)
    assert changed.items[-1].sigmas[2] == pytest.approx(math.sqrt(SIGMA_MIN * SIGMA_MAX), rel=1e-3)
    assert control.label.text() == f"{changed.items[-1].sigmas[2]:.4g}"
    assert len(changed.items) == 3 and committed.items == []

    qtbot.waitUntil(lambda: len(committed.items) == 1, timeout=5 * COMMIT_DELAY_MS)
    qtbot.wait(2 * COMMIT_DELAY_MS)
    assert len(committed.items) == 1 and committed.items[0] == changed.items[-1] == panel.params()

    slider.setValue(slider.maximum())
    slider.sliderReleased.emit()  # releasing commits at once
    assert len(committed.items) == 2 and committed.items[-1].sigmas[2] == SIGMA_MAX
    qtbot.wait(2 * COMMIT_DELAY_MS)
    assert len(committed.items) == 2


def test_set_params_updates_widgets_without_signals(qtbot, panel: EnhancePanel) -> None:
    changed, committed = Recorder(panel.params_changed), Recorder(panel.params_committed)
    params = MSRCRParams(sigmas=(17.3, 80.0, 250.0), low_clip=2.5)
    panel.set_params(params)
    panel.set_params(GammaParams(gamma=0.7))
    panel.set_params(params)
    qtbot.wait(2 * COMMIT_DELAY_MS)
    assert changed.items == [] and committed.items == []
    assert panel.params() is params  # exact values, not re-derived from slider positions
    assert panel.control("sigmas[0]").value() == 17.3 and panel.control("low_clip").label.text() == "2.5"
    assert panel.method_combo.currentData() == "msrcr"


# -- previewer --------------------------------------------------------------------------------------

def test_preview_has_display_size_and_changes_with_sigma(qtbot, previewer, night) -> None:
    previewer.set_image("astronaut", night)
    base, wide = MSRCRParams(), MSRCRParams(sigmas=(15.0, 80.0, 600.0))
    with qtbot.waitSignal(previewer.preview_ready, timeout=10_000) as first:
        previewer.request(base)
    with qtbot.waitSignal(previewer.preview_ready, timeout=10_000) as second:
        previewer.request(wide)
    key, image, params = first.args
    assert key == "astronaut" and params == base and image.dtype == np.uint8
    assert image.shape == (256, 256, 3)  # display width 256 for a 512×512 photo
    assert np.array_equal(image, PreviewSession(night, max_width=256).render(base))
    assert second.args[2] == wide and np.abs(second.args[1].astype(int) - image).mean() > 1.0


def test_requests_coalesce_to_the_latest(qtbot, previewer, night) -> None:
    ready = Recorder(previewer.preview_ready)
    previewer.set_image("astronaut", night)
    requests = [MSRCRParams(sigmas=(15.0, 80.0, float(s))) for s in np.geomspace(100, 500, 20).round(1)]
    for params in requests:
        previewer.request(params)
    qtbot.waitUntil(lambda: bool(ready.items) and ready.items[-1][2] == requests[-1], timeout=20_000)
    qtbot.wait(200)
    assert previewer.render_count == len(ready.items) <= 5  # not 20
    assert ready.items[-1][2] == requests[-1]
    assert np.array_equal(ready.items[-1][1], PreviewSession(night, max_width=256).render(requests[-1]))


def test_results_for_an_older_image_are_dropped(qtbot, previewer, night) -> None:
    ready = Recorder(previewer.preview_ready)
    previewer.set_image("old", night)
    previewer.request(MSRCRParams())
    previewer.set_image("new", night[::-1].copy())
    previewer.request(MSRCRParams(low_clip=3.0))
    qtbot.waitUntil(lambda: len(ready.items) >= 1, timeout=10_000)
    qtbot.wait(200)
    assert [(key, params.low_clip) for key, _, params in ready.items] == [("new", 3.0)]


def test_full_resolution_equals_enhance_and_is_cached(qtbot, previewer, night) -> None:
    previewer.set_image("astronaut", night)
    first, second = MSRCRParams(), MSRCRParams(sigmas=(10.0, 80.0, 300.0), output="auto")
    for params in (first, second, GammaParams()):
        with qtbot.waitSignal(previewer.full_ready, timeout=20_000) as blocker:
            previewer.request_full(params)
        key, image, got = blocker.args
        assert key == "astronaut" and got == params and image.shape == night.shape
        assert np.array_equal(image, enhance(night, params))
    renders = previewer.full_render_count
    with qtbot.waitSignal(previewer.full_ready, timeout=1000) as blocker:
        previewer.request_full(first)  # back to an earlier setting: from the cache, no render
    assert previewer.full_render_count == renders and np.array_equal(blocker.args[1], enhance(night, first))


def test_stop_ends_the_threads_and_ignores_later_requests(qtbot, night) -> None:
    previewer = EnhancePreviewer(max_width=256)
    ready = Recorder(previewer.preview_ready)
    previewer.set_image("astronaut", night)
    previewer.request(MSRCRParams())
    assert previewer.stop(timeout_ms=10_000) and not previewer.is_running()
    previewer.request(MSRCRParams(low_clip=4.0))
    qtbot.wait(100)
    assert ready.items == []


# -- presets ----------------------------------------------------------------------------------------

def test_presets_round_trip_and_survive_reopening(project: Project, tmp_path: Path) -> None:
    soft = MSRCRParams(sigmas=(17.3, 80.0, 250.0), low_clip=0.5)
    first_id = save_preset(project, "Soft night", soft)
    save_preset(project, "bright", GammaParams(gamma=0.3))
    assert load_preset(project, "Soft night") == soft
    assert list_presets(project) == [("bright", GammaParams(gamma=0.3)), ("Soft night", soft)]
    harder = MSRCRParams(output="auto")
    assert save_preset(project, "Soft night", harder) == first_id  # overwrite in place
    assert load_preset(project, "Soft night") == harder and len(preset_names(project)) == 2
    delete_preset(project, "bright")
    with pytest.raises(NotFoundError, match="bright"):
        load_preset(project, "bright")
    with pytest.raises(NotFoundError):
        delete_preset(project, "bright")
    with pytest.raises(StoreError, match="name"):
        save_preset(project, "   ", soft)
    project.close()
    with Project.open(tmp_path / "p.db") as again:
        assert list_presets(again) == [("Soft night", harder)]


def test_bad_stored_preset_gives_a_store_error_naming_it(project: Project) -> None:
    with project.write() as s:
        s.add(EnhancementPreset(name="broken", method="msrcr", params={"method": "msrcr", "sigmas": [0.1]}))
        s.add(EnhancementPreset(name="alien", method="fancy", params={"method": "fancy"}))
    with pytest.raises(StoreError, match="'broken'.*sigmas"):
        load_preset(project, "broken")
    with pytest.raises(StoreError, match="'alien'.*fancy"):
        load_preset(project, "alien")
    with pytest.raises(StoreError, match="preset"):
        list_presets(project)


def test_panel_presets_in_the_project(qtbot, panel: EnhancePanel, project: Project) -> None:
    assert not panel.save_button.isEnabled()
    panel.set_project(project)
    assert panel.save_button.isEnabled() and panel.preset_combo.count() == 1  # the placeholder
    panel.set_params(MSRCRParams(sigmas=(20.0, 90.0, 300.0)))
    assert panel.save_preset_as("wide")
    panel.reset()
    committed = Recorder(panel.params_committed)
    choose(panel.preset_combo, "wide")
    assert panel.params() == MSRCRParams(sigmas=(20.0, 90.0, 300.0)) == committed.items[-1]
    assert panel.current_preset() == "wide"
    assert panel.delete_preset_named("wide") and panel.preset_combo.count() == 1
    assert not panel.load_preset_named("wide") and "wide" in panel.status_text()
    panel.set_project(None)
    assert not panel.preset_combo.isEnabled()


# -- histogram and cache ----------------------------------------------------------------------------

def test_histogram_shows_before_and_after(qtbot, night) -> None:
    widget = LuminanceHistogram()
    qtbot.addWidget(widget)
    after = enhance(night, MSRCRParams())
    widget.set_images(night, after)
    for curve in (widget.before_curve, widget.after_curve):
        x, y = curve.getData()
        assert len(x) == len(y) == BINS and y.sum() == pytest.approx(1.0)
    before_y, after_y = widget.before_curve.getData()[1], widget.after_curve.getData()[1]
    levels = np.arange(BINS)
    assert (levels * after_y).sum() > (levels * before_y).sum() + 50  # enhancement brightens
    big = np.repeat(np.repeat(night, 4, axis=0), 4, axis=1)  # 2048×2048: subsampled, same shape
    assert np.abs(luma_histogram(big) - luma_histogram(night)).max() < 0.01
    widget.set_images(None, None)
    assert widget.after_curve.getData()[1].sum() == 0


def test_cache_evicts_least_recently_used_by_bytes() -> None:
    cache = EnhancedImageCache(budget_bytes=1000)
    image = lambda v: np.full((10, 10, 3), v, np.uint8)  # noqa: E731 - 300 bytes each
    params = [MSRCRParams(low_clip=float(c)) for c in (1, 2, 3, 4)]
    for i in range(3):
        cache.put("a", params[i], image(i))
    assert len(cache) == 3 and cache.nbytes == 900
    assert cache.get("a", params[0])[0, 0, 0] == 0  # touch: now the most recent
    cache.put("a", params[3], image(3))
    assert cache.get("a", params[1]) is None and cache.get("a", params[0]) is not None
    assert cache.nbytes == 900 and len(cache) == 3
    assert cache.get("b", params[0]) is None  # keyed by image too
    with pytest.raises(ValueError):
        cache.get("a", params[0])[0, 0, 0] = 7  # shared arrays are read-only
    cache.put("a", params[0], np.zeros(2000, np.uint8))  # larger than the budget: not kept
    assert cache.get("a", params[0])[0, 0, 0] == 0
    cache.discard("a")
    assert len(cache) == 0 and cache.nbytes == 0


def test_every_method_has_a_panel(qtbot, panel: EnhancePanel) -> None:
    for index in range(panel.method_combo.count()):
        name = panel.method_combo.itemData(index)
        choose(panel.method_combo, name)
        assert panel.params().method == name
        names = {k.split("[")[0] for k in panel.control_keys()}
        assert names == {s.name for s in get_method(name).params_type().offered_specs()}

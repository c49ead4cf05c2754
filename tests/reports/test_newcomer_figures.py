"""Figures a reader can read: text on its own colour, class names, integer counts, bands in order, labelled
saliency tiles with a colour bar, named preview rows, a legend that hides no error bar."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mgmtfeat.reports.study_figures import plot_confusion, plot_site_comparison, plot_subgroups  # noqa: E402


def _contrast(a, b) -> float:
    """WCAG contrast ratio of two RGB colours (1 to 21)."""
    def lum(rgb):
        c = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in rgb[:3]]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _confusion(counts_by_repeat):
    rows = []
    for repeat, counts in enumerate(counts_by_repeat):
        for (t, p), n in np.ndenumerate(np.asarray(counts)):
            rows.append({"model": "logistic", "repeat": repeat, "true": str(t), "predicted": str(p), "count": n})
    return pd.DataFrame(rows)


def test_confusion_text_reads_on_its_own_cell_with_names_and_integer_counts():
    from matplotlib.colors import to_rgb

    # every count above max/2, but the smallest is the colour map's lightest cell: white on it was unreadable
    fig = plot_confusion(_confusion([[[100, 60], [55, 90]]]), [0, 1],
                         display={"0": "unmethylated (0)", "1": "methylated (1)"})
    ax = fig.axes[0]
    image = ax.images[0]
    texts = {t.get_text(): t for t in ax.texts}
    assert sorted(texts) == ["100", "55", "60", "90"]  # one repeat: whole counts
    for text in ax.texts:
        x, y = (int(round(v)) for v in text.get_position())
        cell = image.cmap(image.norm(image.get_array()[y, x]))
        # 4.5: WCAG's minimum contrast for normal text
        assert _contrast(to_rgb(text.get_color()), cell) >= 4.5, (text.get_text(), text.get_color())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["unmethylated (0)", "methylated (1)"]
    assert "(count of cases)" in ax.get_title()
    matplotlib.pyplot.close(fig)

    fig = plot_confusion(_confusion([[[10, 5], [4, 11]], [[11, 4], [4, 11]]]), [0, 1])
    ax = fig.axes[0]
    assert "10.5" in [t.get_text() for t in ax.texts] and "mean count over 2 repeats" in ax.get_title()
    matplotlib.pyplot.close(fig)


def test_cv_confusion_names_the_mgmt_classes():
    from mgmtfeat.experiments.study_outputs import class_labels
    from mgmtfeat.experiments.study_task import TaskOptions

    assert class_labels([0, 1], TaskOptions()) == {"0": "unmethylated (0)", "1": "methylated (1)"}
    assert class_labels(["astro", "gbm"], TaskOptions(labels="x.csv")) == {"astro": "astro", "gbm": "gbm"}


def test_subgroups_show_whole_counts_and_age_bands_in_order():
    from mgmtfeat.evaluation.intervals import age_band_labels, subgroup_intervals

    ages = pd.Series([40, 70, 55, 45, 60, 80, 30, 52, 66, 58, 49, 71], index=[f"c{i}" for i in range(12)], dtype=float)
    bands = pd.DataFrame({"age band": age_band_labels(ages, [50, 65])})
    rng = np.random.default_rng(0)
    y = np.arange(12) % 2
    proba = np.column_stack([1 - (p := rng.uniform(size=12)), p])
    table = subgroup_intervals(y, proba, list(ages.index), bands, n_resamples=50, random_state=0)
    assert list(dict.fromkeys(table["subgroup"])) == ["<50", "50-65", ">65"]
    table = table.assign(model="logistic", n=table["n"].astype(float))  # a mean over repeats is a float
    fig = plot_subgroups(table)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "logistic: age band <50 (n=4)" and not any(".0)" in label for label in labels)
    matplotlib.pyplot.close(fig)


def test_site_comparison_legend_covers_no_error_bar():
    table = pd.DataFrame({"model": ["snn", "snn", "logistic", "logistic"], "scheme": ["co-site", "separate"] * 2,
                          "auc_mean": [0.9, 0.85, 0.88, 0.9], "auc_sd": [0.08, 0.1, 0.1, 0.08]})
    fig = plot_site_comparison(table)
    fig.tight_layout()  # as save_figure lays it out
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    renderer = fig.canvas.get_renderer()
    from matplotlib.transforms import Bbox

    # each error bar's vertical line, in pixels (a collection's own extent is not computed for data lines)
    errorbars = [Bbox(ax.transData.transform(segment)) for c in ax.collections for segment in c.get_segments()]
    caps = [line.get_window_extent(renderer) for line in ax.lines if line.get_marker() not in (None, "None", "")]
    bars = [p.get_window_extent(renderer) for p in ax.patches]
    assert len(errorbars) == 4 and len(bars) == 4
    assert not any(legend.overlaps(box) for box in errorbars + caps + bars)
    matplotlib.pyplot.close(fig)


@pytest.fixture
def saved_figures(monkeypatch):
    """Every figure saved in the test, kept open so its texts can be read."""
    from matplotlib.figure import Figure

    saved, real = [], Figure.savefig

    def keep(self, *args, **kwargs):
        saved.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    monkeypatch.setattr("matplotlib.pyplot.close", lambda *a, **k: None)
    return saved


def test_saliency_png_is_readable_with_a_colour_bar_and_names_its_peak(tmp_path, saved_figures):
    import imageio.v2 as imageio

    from mgmtfeat.saliency.maps import chosen_slices, peak_slice, write_overlays

    rng = np.random.default_rng(0)
    volume = rng.uniform(1, 100, (64, 64, 12)).astype(np.float32)
    saliency = np.zeros_like(volume)
    saliency[20:40, 20:40, 7] = 0.3
    saliency[20:40, 20:40, 6] = 0.1
    path, slices = write_overlays(tmp_path / "s.png", volume, saliency, "case1: T1wCE")
    assert slices == chosen_slices(saliency, volume != 0) == [6, 7, 8] and peak_slice(saliency, volume != 0) == 7
    height, width = imageio.imread(path).shape[:2]
    assert width > 200 and height > 64 * 3  # the tiles were 64 px: now large enough to see
    (fig,) = saved_figures
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["slice 6", "slice 7 (peak)", "slice 8"]
    assert fig.axes[3].get_ylabel() == "drop in probability when masked"  # the colour bar


def test_clip_preview_names_modality_and_frame(tmp_path, saved_figures):
    from mgmtfeat.clips import make_clips
    from mgmtfeat.clips.video import write_preview
    from mgmtfeat.data import synthetic
    from mgmtfeat.data.layouts import find_cases
    from mgmtfeat.data.volumes import load_case

    root = synthetic.write_cohort(tmp_path / "brats", "brats2021", n_cases=1, shape=(48, 48, 24), seed=1)
    case = load_case(find_cases(root)[0])
    write_preview(case, make_clips(case), tmp_path / "p.png")
    (fig,) = saved_figures
    rows = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert rows == ["FLAIR", "T1", "T1wCE", "T2", "delta-T1"]
    frames = [ax.get_title() for ax in fig.axes[1:7]]
    assert all(t.startswith("frame ") for t in frames) and fig.axes[0].get_title().startswith("slice ")

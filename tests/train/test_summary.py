"""The end-of-training curves: which lines and legend entries the figure holds."""

import matplotlib.pyplot as plt

from vocalis.train.callbacks.summary import curves_figure, plot_curves


def history(steps: int, epochs: int) -> dict:
    per_epoch = steps // epochs
    valid = [{"step": per_epoch * (e + 1), "epoch": e, "valid/loss": 10.0 / (e + 1), "valid/loss_ctc": 12.0 / (e + 1),
              "valid/acc": 0.5 + e / (2 * epochs)} for e in range(epochs)]
    return {"train": [[s, 50.0 / s] for s in range(1, steps + 1)], "valid": valid}


def test_the_figure_holds_train_loss_valid_losses_and_other_metrics():
    # the train steps once replaced the valid loss keys: 1880 empty lines and legend entries, 11-13 s to draw
    fig = curves_figure(history(steps=1880, epochs=20))
    try:
        left, right = fig.axes
        assert [line.get_label() for line in left.lines] == ["train/loss", "valid/loss", "valid/loss_ctc"]
        assert len(left.lines[0].get_xdata()) == 1880
        assert list(left.lines[1].get_xdata()) == [94 * (e + 1) for e in range(20)]
        assert list(left.lines[2].get_ydata())[:2] == [12.0, 6.0]
        assert [t.get_text() for t in left.get_legend().get_texts()] == ["train/loss", "valid/loss", "valid/loss_ctc"]
        assert [line.get_label() for line in right.lines] == ["valid/acc"]
    finally:
        plt.close(fig)


def test_a_figure_without_other_metrics_has_one_panel(tmp_path):
    h = history(steps=8, epochs=2)
    for row in h["valid"]:
        del row["valid/acc"]
    path = plot_curves(h, tmp_path / "curves.png")
    assert path.is_file() and not (tmp_path / "curves.partial.png").exists()
    fig = curves_figure(h)
    try:
        assert len(fig.axes) == 1
    finally:
        plt.close(fig)

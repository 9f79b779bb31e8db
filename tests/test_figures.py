"""`png_figure`: a PNG is written only when the drawing finishes, and the figure is always closed."""

import pytest

from kerobust.figures import png_figure


@pytest.mark.smoke
def test_writes_a_png_and_closes_the_figure(tmp_path):
    import matplotlib.pyplot as plt

    path = tmp_path / "out" / "plot.png"
    with png_figure(path, 1, 2, figsize=(4, 2)) as (figure, axes):
        axes[0].plot([0, 1], [1, 0])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not plt.fignum_exists(figure.number)


@pytest.mark.smoke
def test_a_failed_drawing_leaves_the_old_file(tmp_path):
    import matplotlib.pyplot as plt

    path = tmp_path / "plot.png"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with png_figure(path) as (figure, axis):
            raise RuntimeError("drawing failed")
    assert path.read_bytes() == b"old" and not plt.fignum_exists(figure.number)

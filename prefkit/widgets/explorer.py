"""The frame every explorer shares: sliders, one persistent figure shown as a PNG, a readout and a state.

An explorer IS its ipywidgets container (a VBox subclass), so a notebook cell ending in ``beta_explorer()``
shows it, and the same object carries what it drew:

    ex = beta_explorer()
    ex.sliders["beta"].value = 2.0     # runs the callback at once, in the kernel
    ex.state.kl                        # the numbers behind the current figure
    ex.renders                         # how many times the figure was re-rendered

Rendering: one matplotlib Figure per explorer (no pyplot, so notebooks never show a stray copy) is turned into
PNG bytes for an ipywidgets.Image. That needs no ipympl or other JupyterLab extension beyond the widget
manager. A full matplotlib draw of a two-panel figure costs ~100 ms on a 2-core laptop, mostly tick labels,
so the static parts (axes, ticks, labels, legends, fixed curves) are drawn once and cached as a bitmap and
each update draws only the artists that change on top of it ("blitting"). Text is the costliest artist
(~12 ms for a line of 80 characters), so the figure's title states the finding once, statically, and the
numbers that change go to an HTML headline above the figure and the readout below it. The PNG is written by
png_rgb (no row filter, zlib level 1: twice as fast as Pillow's encoder on flat plot images).
"""
import contextlib
import struct
import time
import zlib

import ipywidgets as widgets
import numpy as np

from prefkit import plots


class FigureRenderer:
    """Render one persistent Figure to PNG bytes, redrawing only its animated artists after the first time.

    animated: artists that change between frames (bars, markers, titles...). Everything else must stay
    fixed, including axis limits; call invalidate() after changing a static part."""

    def __init__(self, figure, animated):
        self.figure = figure
        self.animated = list(animated)
        for artist in self.animated:
            artist.set_animated(True)  # a full canvas.draw() now skips it; it is drawn per frame below
        self._background = None

    def invalidate(self):
        self._background = None

    def png(self):
        canvas = self.figure.canvas
        with plots.style():
            if self._background is None:
                canvas.draw()
                self._background = canvas.copy_from_bbox(self.figure.bbox)
            else:
                canvas.restore_region(self._background)
            for artist in self.animated:
                self.figure.draw_artist(artist)
        return png_rgb(np.asarray(canvas.buffer_rgba())[..., :3])  # (H, W, 3); the figure is opaque white


def png_rgb(rgb):
    """Encode an (H, W, 3) uint8 image as PNG: filter type 0 on every row, one zlib (level 1) IDAT chunk.
    Plot images are mostly flat colour, so this is small (~80 kB for 1000 x 400) and fast (~10 ms)."""
    h, w, _ = rgb.shape
    rows = np.zeros((h, 3 * w + 1), dtype=np.uint8)  # (H, 1 + 3W): a leading 0 byte per row = "no filter"
    rows[:, 1:] = rgb.reshape(h, 3 * w)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB, deflate, no filter method, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
            + chunk(b"IEND", b""))


@contextlib.contextmanager
def one_torch_thread():
    """Run tiny torch ops on one thread: on a busy 2-core laptop a second OpenMP thread only spin-waits, which
    made a 321-point log-sigmoid take 8 ms instead of 0.01 ms. Restores the caller's setting."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def log_slider(name, description, value, low, high, step=0.05, readout_format=".2g"):
    """A FloatLogSlider over about [low, high] (base 10; step is in powers of ten), CSS class
    prefkit-slider-<name>. The exponent range is widened to multiples of step, so that round values such as
    beta = 1 lie on the slider's grid (the browser snaps the value to min + k * step)."""
    lo, hi = np.floor(np.log10(low) / step + 1e-9) * step, np.ceil(np.log10(high) / step - 1e-9) * step
    slider = widgets.FloatLogSlider(value=value, base=10, min=round(lo, 10), max=round(hi, 10), step=step,
                                    description=description, readout_format=readout_format,
                                    continuous_update=True, style={"description_width": "initial"},
                                    layout=widgets.Layout(width="360px"))
    return _tag(slider, name)


def float_slider(name, description, value, low, high, step, readout_format=".2f"):
    """A FloatSlider with CSS class prefkit-slider-<name>."""
    slider = widgets.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                                 readout_format=readout_format, continuous_update=True,
                                 style={"description_width": "initial"}, layout=widgets.Layout(width="320px"))
    return _tag(slider, name)


def int_slider(name, description, value, low, high, step=1):
    """An IntSlider with CSS class prefkit-slider-<name>."""
    slider = widgets.IntSlider(value=value, min=low, max=high, step=step, description=description,
                               continuous_update=True, style={"description_width": "initial"},
                               layout=widgets.Layout(width="320px"))
    return _tag(slider, name)


def _tag(widget, name):
    widget.add_class("prefkit-slider")
    widget.add_class(f"prefkit-slider-{name}")
    return widget


def headline_html(text):
    """The one line of current numbers shown above the figure."""
    return f"<div style='font-size:14px;padding:2px 0 0 8px'>{text}</div>"


def readout_html(rows):
    """A compact two-column table for the readout; rows: [(label, value text)]."""
    cells = "".join(f"<tr><td style='padding:0 12px 0 0'>{k}</td><td><b>{v}</b></td></tr>" for k, v in rows)
    return f"<table style='font-size:13px;line-height:1.35'>{cells}</table>"


class Explorer(widgets.VBox):
    """Base class: sliders on top, a headline with the current numbers, the figure, then a readout.

    Subclasses build the figure, list the artists that change in ``animated``, and implement compute() (slider
    values -> self.state) and draw() (self.state -> artists, headline and readout). Any slider change runs
    update() = compute + draw + render.

    CSS classes (for browser tests and styling): prefkit-explorer, prefkit-<name>-explorer on the container,
    prefkit-controls, prefkit-headline, prefkit-figure, prefkit-readout, prefkit-slider and
    prefkit-slider-<slider name>.
    """

    def __init__(self, name, sliders, figure, animated):
        self.name = name
        self.sliders = dict(sliders)
        self.figure = figure
        self.renderer = FigureRenderer(figure, animated)
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self.image.add_class("prefkit-figure")
        self.headline = widgets.HTML()
        self.headline.add_class("prefkit-headline")
        self.readout = widgets.HTML()
        self.readout.add_class("prefkit-readout")
        controls = widgets.HBox(list(self.sliders.values()), layout=widgets.Layout(flex_flow="row wrap"))
        controls.add_class("prefkit-controls")
        self.renders = 0
        self.last_update_s = None
        self.state = None
        super().__init__(children=[controls, self.headline, self.image, self.readout])
        self.add_class("prefkit-explorer")
        self.add_class(f"prefkit-{name}-explorer")
        for slider in self.sliders.values():
            slider.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change):
        self.update()

    def update(self):
        """Recompute the state from the sliders, update the artists and the readout, re-render the PNG."""
        start = time.perf_counter()
        self.compute()
        self.draw()
        self.image.value = self.renderer.png()
        self.renders += 1
        self.last_update_s = time.perf_counter() - start

    def compute(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def draw(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def png(self):
        """The PNG bytes currently shown."""
        return bytes(self.image.value)  # ipywidgets stores them as a memoryview


__all__ = ["Explorer", "FigureRenderer", "png_rgb", "one_torch_thread", "headline_html", "readout_html", "log_slider",
           "float_slider", "int_slider"]

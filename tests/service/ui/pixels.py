"""What a chart drew, read back from the browser: the colour of the canvas at a data point,
and whether a colour appears along a horizontal line — what a person sees, not the option."""

from __future__ import annotations

from typing import Any

RED = (198, 40, 40)  # the critical colour of dashboard.js and vigil.css
AMBER = (224, 142, 11)  # warning
GREEN = (46, 125, 50)  # ok

# ECharts paints on the next animation frames after setOption: wait for two. It may paint
# on several stacked canvases (a heatmap's cells go to a layer of their own): a pixel is the
# topmost canvas's that is not transparent there, as the eye composes them.
_SETUP = """
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const el = document.querySelector(selector);
  const canvases = Array.from(el.querySelectorAll('canvas')).reverse();
  const ratio = canvases[0].width / canvases[0].clientWidth;
  const strip = (x, y, width) => {
    const layers = canvases.map((c) => c.getContext('2d').getImageData(x, y, width, 1).data);
    const out = [];
    for (let i = 0; i < width; i++) {
      const layer = layers.find((d) => d[4 * i + 3] > 0);
      out.push(layer ? [layer[4 * i], layer[4 * i + 1], layer[4 * i + 2]] : [255, 255, 255]);
    }
    return out;
  };
"""

# per point [x, y] in data coordinates: the RGB drawn there (devicePixelRatio applied)
_COLOURS_AT = (
    "async ([selector, finder, points]) => {"
    + _SETUP
    + """
  return points.map((p) => {
    const [x, y] = el.vigilChart.convertToPixel(finder, p);
    return strip(Math.round(x * ratio), Math.round(y * ratio), 1)[0];
  });
}"""
)

# how many pixels of a colour lie on the row of data value `y` (±1 pixel), from x0 to x1
_COUNT_ON_ROW = (
    "async ([selector, y, x0, x1, colour, tolerance]) => {"
    + _SETUP
    + """
  const left = el.vigilChart.convertToPixel({gridIndex: 0}, [x0, y]);
  const right = el.vigilChart.convertToPixel({gridIndex: 0}, [x1, y]);
  const row = Math.round(left[1] * ratio), start = Math.round(left[0] * ratio);
  const width = Math.max(Math.round(right[0] * ratio) - start, 1);
  let found = 0;
  for (const dy of [-1, 0, 1]) {
    for (const c of strip(start, row + dy, width)) {
      if (c.every((v, i) => Math.abs(v - colour[i]) <= tolerance)) found++;
    }
  }
  return found;
}"""
)


def colours_at(
    page: Any, selector: str, points: list[list[float]], finder: dict[str, int] | None = None
) -> list[tuple[int, int, int]]:
    """The RGB the chart in `selector` drew at each data point."""
    found = page.evaluate(_COLOURS_AT, [selector, finder or {"seriesIndex": 0}, points])
    return [tuple(c) for c in found]


def count_on_row(
    page: Any,
    selector: str,
    *,
    y: float,
    x0: float,
    x1: float,
    colour: tuple[int, int, int],
    tolerance: int = 40,
) -> int:
    """Pixels of about `colour` on the row of data value `y` (±1 pixel), from x0 to x1."""
    return int(page.evaluate(_COUNT_ON_ROW, [selector, y, x0, x1, list(colour), tolerance]))


def is_near(
    colour: tuple[int, int, int], target: tuple[int, int, int], tolerance: int = 12
) -> bool:
    """Whether two RGB colours are the same to within `tolerance` per channel."""
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True))


def chart_spec(page: Any, spec_id: str) -> Any:
    """The JSON a chart was drawn from (its `<script type="application/json">`)."""
    return page.evaluate("(id) => JSON.parse(document.getElementById(id).textContent)", spec_id)

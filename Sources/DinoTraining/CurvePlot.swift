import DinoData
import DinoRuntime
import Foundation

/// A small line chart drawn into an RGB buffer: series of (x, y) points, dashed
/// horizontal reference lines, axes with tick labels and a legend, written as PNG.
struct CurvePlot {
  /// An RGB colour.
  typealias Color = (r: UInt8, g: UInt8, b: UInt8)

  /// One curve.
  struct Series {
    /// Its legend text (characters of `BitmapFont`).
    var name: String
    /// Its colour.
    var color: Color
    /// Its points, in x order.
    var points: [(x: Double, y: Double)]
  }

  /// A dashed horizontal line at `y`.
  struct Reference {
    /// Its legend text.
    var name: String
    /// Its colour.
    var color: Color
    /// Its height.
    var y: Double
  }

  /// Canvas size in pixels.
  var width = 720
  var height = 400
  /// The curves.
  var series: [Series] = []
  /// The reference lines.
  var references: [Reference] = []
  /// The x axis caption.
  var xCaption = "iteration"

  private static let left = 64
  private static let right = 20
  private static let top = 40
  private static let bottom = 44
  private static let scale = 2

  /// Renders the chart.
  func render() -> Image {
    var canvas = Canvas(width: width, height: height)
    let plotW = width - Self.left - Self.right
    let plotH = height - Self.top - Self.bottom
    let xs = series.flatMap { $0.points.map(\.x) }
    let ys = series.flatMap { $0.points.map(\.y) } + references.map(\.y)
    let xTicks = Self.ticks(lo: 0, hi: max(xs.max() ?? 1, 1))
    let yTicks = Self.ticks(lo: min(0, ys.min() ?? 0), hi: max(ys.max() ?? 1, 1e-6) * 1.05)
    let (x0, x1) = (xTicks.first!, xTicks.last!)
    let (y0, y1) = (yTicks.first!, yTicks.last!)
    func px(_ x: Double) -> Int { Self.left + Int((x - x0) / (x1 - x0) * Double(plotW)) }
    func py(_ y: Double) -> Int { Self.top + plotH - Int((y - y0) / (y1 - y0) * Double(plotH)) }

    let grid: Color = (225, 225, 225)
    let black: Color = (0, 0, 0)
    for y in yTicks {
      canvas.line(Self.left, py(y), Self.left + plotW, py(y), grid)
      let label = Self.label(y, step: yTicks[1] - yTicks[0])
      canvas.text(
        label, x: Self.left - 6 - BitmapFont.width(label, scale: Self.scale), y: py(y) - 5,
        scale: Self.scale, black)
    }
    for x in xTicks {
      canvas.line(px(x), Self.top, px(x), Self.top + plotH, grid)
      let label = Self.label(x, step: xTicks[1] - xTicks[0])
      canvas.text(
        label, x: px(x) - BitmapFont.width(label, scale: Self.scale) / 2,
        y: Self.top + plotH + 6, scale: Self.scale, black)
    }
    canvas.text(
      xCaption, x: Self.left + plotW / 2 - BitmapFont.width(xCaption, scale: Self.scale) / 2,
      y: height - 16, scale: Self.scale, black)
    canvas.line(Self.left, Self.top, Self.left, Self.top + plotH, black)
    canvas.line(Self.left, Self.top + plotH, Self.left + plotW, Self.top + plotH, black)

    for reference in references {
      let y = py(reference.y)
      var x = Self.left
      while x < Self.left + plotW {
        canvas.line(x, y, min(x + 8, Self.left + plotW), y, reference.color, thick: true)
        x += 14
      }
    }
    for curve in series {
      for (a, b) in zip(curve.points, curve.points.dropFirst()) {
        canvas.line(px(a.x), py(a.y), px(b.x), py(b.y), curve.color, thick: true)
      }
      if curve.points.count == 1, let p = curve.points.first {
        canvas.fill(px(p.x) - 2, py(p.y) - 2, 5, 5, curve.color)
      }
    }

    var legendX = Self.left
    let legend = series.map { ($0.name, $0.color) } + references.map { ($0.name, $0.color) }
    for (name, color) in legend {
      canvas.fill(legendX, 14, 24, 4, color)
      canvas.text(name, x: legendX + 30, y: 11, scale: Self.scale, black)
      legendX += 30 + BitmapFont.width(name, scale: Self.scale) + 24
    }
    return Image(width: width, height: height, channels: 3, pixels: canvas.pixels)
  }

  /// Renders and writes the chart as PNG at `path` atomically (a temporary file beside
  /// it, then rename), so a reader never sees half a file.
  func write(to path: String) throws(RuntimeError) {
    let temporary = path + ".tmp-\(getpid())"
    unlink(temporary)  // a leftover (or planted link) is replaced, never written through
    do {
      try render().writePNG(to: temporary)
    } catch {
      unlink(temporary)
      throw RuntimeError("cannot write \(path): \(error.message)")
    }
    if rename(temporary, path) != 0 {
      let reason = String(cString: strerror(errno))
      unlink(temporary)
      throw RuntimeError("cannot write \(path): \(reason)")
    }
  }

  /// About five round tick values (steps of 1, 2 or 5 × 10^k) covering `lo…hi`.
  static func ticks(lo: Double, hi: Double) -> [Double] {
    let span = hi > lo ? hi - lo : 1
    let raw = span / 5
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    let first = floor(lo / step) * step
    var ticks: [Double] = []
    var t = first
    while t < hi + step * 0.999 {
      ticks.append(t)
      t += step
    }
    return ticks.count >= 2 ? ticks : [first, first + step]
  }

  /// A tick label with as many decimals as the step needs.
  static func label(_ value: Double, step: Double) -> String {
    let decimals = step >= 1 ? 0 : Int(-floor(log10(step)))
    let text = String(format: "%.\(decimals)f", value)
    return text == "-0" ? "0" : text
  }
}

/// White RGB pixels with line, rectangle and text drawing.
private struct Canvas {
  let width: Int
  let height: Int
  var pixels: [UInt8]

  init(width: Int, height: Int) {
    self.width = width
    self.height = height
    pixels = [UInt8](repeating: 255, count: width * height * 3)
  }

  mutating func set(_ x: Int, _ y: Int, _ c: CurvePlot.Color) {
    guard x >= 0, y >= 0, x < width, y < height else { return }
    let i = (y * width + x) * 3
    pixels[i] = c.r
    pixels[i + 1] = c.g
    pixels[i + 2] = c.b
  }

  mutating func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, _ c: CurvePlot.Color) {
    for yy in y..<(y + h) { for xx in x..<(x + w) { set(xx, yy, c) } }
  }

  /// Bresenham's line, optionally two pixels thick.
  mutating func line(
    _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: CurvePlot.Color, thick: Bool = false
  ) {
    var (x, y) = (x0, y0)
    let dx = abs(x1 - x0)
    let dy = -abs(y1 - y0)
    let sx = x0 < x1 ? 1 : -1
    let sy = y0 < y1 ? 1 : -1
    var err = dx + dy
    while true {
      set(x, y, c)
      if thick {
        set(x + 1, y, c)
        set(x, y + 1, c)
      }
      if x == x1 && y == y1 { break }
      let e2 = 2 * err
      if e2 >= dy {
        err += dy
        x += sx
      }
      if e2 <= dx {
        err += dx
        y += sy
      }
    }
  }

  mutating func text(_ s: String, x: Int, y: Int, scale: Int, _ c: CurvePlot.Color) {
    var copy = self
    BitmapFont.draw(s, x: x, y: y, scale: scale) { copy.set($0, $1, c) }
    self = copy
  }
}

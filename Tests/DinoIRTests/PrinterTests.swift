import DinoIR
import XCTest

/// The printer's line format on graphs built in code, and their round trip through the parser.
final class PrinterTests: XCTestCase {
  /// A two-program graph touching every printer feature.
  static func sample() -> Graph {
    let main = "Samples/model.swift"
    var p = Program(name: "train_step")
    let x = p.append(
      Node(
        .input, attrs: ["name": .string("crop0")], type: TensorType(.f32, [2, 4]),
        loc: SourceLoc(file: main, line: 3, column: 9)))
    let w = p.append(
      Node(
        .parameter,
        attrs: [
          "name": .string("student.fc.weight"), "init": .string("uniform(-1,1)"),
          "trainable": .int(1),
        ],
        type: TensorType(.f32, [3, 4]),
        loc: SourceLoc(file: "Lib/Layers.swift", line: 12, column: 5),
        scope: "student.fc"))
    let b = p.append(
      Node(
        .constant, attrs: ["data": .floats((0..<3).map { Float($0) / 3 })],
        type: TensorType(.f32, [3]),
        loc: SourceLoc(file: main, line: 4, column: 7), scope: "student.fc"))
    let y = p.append(
      Node(
        .linear, [x, w, b], type: TensorType(.f32, [2, 3]),
        loc: SourceLoc(file: main, line: 5, column: 12),
        scope: "student.fc"))
    let big = p.append(
      Node(
        .constant, attrs: ["data": .floats((0..<20).map { Float($0) / 4 - 2 })],
        type: TensorType(.f32, [20]), loc: SourceLoc(file: main, line: 6, column: 3)))
    let s = p.append(
      Node(
        .add, [y, y], type: TensorType(.f32, [2, 3]),
        loc: SourceLoc(file: main, line: 5, column: 12, inferred: true),
        isBackward: true))
    let t = p.append(
      Node(
        .scale, [s], attrs: ["factor": .float(-0.125)], type: TensorType(.f32, [2, 3]),
        isBackward: true))
    p.outputs = [
      ProgramOutput(name: "loss", value: t), ProgramOutput(name: "big data", value: big),
    ]
    var q = Program(
      name: "ema",
      nodes: [
        Node(.input, attrs: ["name": .string("momentum")], type: .scalar)
      ])
    q.outputs = []
    return Graph(
      programs: [p, q], hyper: ["lr": 0.0005, "batch": 64, "epochs": 1e20, "seed": -0.0],
      metadata: ["model": "tiny \"vit\"\n", "compiler": "dinoc"], stage: "after autodiff")
  }

  func testSampleRoundTrips() throws {
    let graph = Self.sample()
    let text = printIR(graph)
    XCTAssertEqual(try parseIR(text), graph)
    XCTAssertEqual(printIR(try parseIR(text)), text)
  }

  func testSampleText() {
    let expected = """
      #dino-ir v1 stage="after autodiff"
      file "Samples/model.swift"
      meta compiler="dinoc"
      meta model="tiny \\"vit\\"\\n"
      hyper batch=64
      hyper epochs=1e+20
      hyper lr=0.0005
      hyper seed=-0.0

      program @train_step {
        %0 = input {name="crop0"}                       : f32[2,4]  @ :3:9
        scope student.fc
        %1 = parameter {init="uniform(-1,1)", name="student.fc.weight", trainable=1} : f32[3,4]  @ "Lib/Layers.swift":12:5
        %2 = constant {data=[0.0,0.33333334,0.6666667]} : f32[3]    @ :4:7
        %3 = linear(%0, %1, %2)                         : f32[2,3]  @ :5:12
        scope ""
        %4 = constant {data=#0}                         : f32[20]   @ :6:3
        %5 = add(%3, %3)                                : f32[2,3]  @ ~:5:12 bw
        %6 = scale(%5) {factor=-0.125}                  : f32[2,3]  bw
        return loss=%6, "big data"=%4
        data #0 = [
          -2.0, -1.75, -1.5, -1.25, -1.0, -0.75, -0.5, -0.25,
          0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75,
          2.0, 2.25, 2.5, 2.75
        ]
      }

      program @ema {
        %0 = input {name="momentum"} : f32[]
        return
      }

      """
    XCTAssertEqual(printIR(Self.sample()), expected)
  }

  func testMemoryAnnotationsAndFooter() throws {
    var graph = Self.sample()
    graph.programs[0].nodes[3].slot = MemorySlot(offset: 0x4A000, size: 1_258_291)
    graph.programs[0].arenaBytes = 3 << 30
    let text = printIR(graph)
    XCTAssertTrue(text.contains(": f32[2,3] [arena+0x0004A000 1258291B 1.2MiB]  @ :5:12\n"), text)
    XCTAssertTrue(text.contains("\n  arena 3221225472B 3.0GiB\n"), text)
    XCTAssertEqual(try parseIR(text), graph)
    XCTAssertFalse(printIR(graph, memory: false).contains("arena"))
  }

  func testMainFileIsTheMostCommonAndEmptyGraphPrintsHeaderOnly() {
    XCTAssertEqual(printIR(Graph()), "#dino-ir v1 stage=captured\n")
    var graph = Self.sample()
    for i in 0..<3 { graph.programs[0].nodes[i].loc.file = "Lib/Layers.swift" }
    let text = printIR(graph)
    XCTAssertTrue(
      text.hasPrefix("#dino-ir v1 stage=\"after autodiff\"\nfile \"Lib/Layers.swift\"\n"), text)
    XCTAssertTrue(text.contains("@ \"Samples/model.swift\":5:12\n"), text)
  }

  func testUnicodeNamesAndCarriageReturnsRoundTrip() throws {
    var graph = Self.sample()
    graph.metadata["note"] = "\u{301}accent first, then 🦕 and a bell \u{7}"
    graph.programs[1].outputs = [ProgramOutput(name: "é", value: ValueID(0))]
    graph.programs[1].nodes[0].scope = "\u{301}"
    let text = printIR(graph)
    XCTAssertTrue(text.contains("\\u{7}\""), text)
    XCTAssertEqual(try parseIR(text), graph)
    let crlf = text.replacingOccurrences(of: "\n", with: "\r\n")
    XCTAssertEqual(try parseIR(crlf), graph)
  }
}

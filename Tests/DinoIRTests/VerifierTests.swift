import DinoIR
import XCTest

/// Each test breaks one invariant and checks the exact diagnostic: message, model.swift
/// location, notes.
final class VerifierTests: XCTestCase {
  /// Parses `program @p { body }` (plus `extra` programs) under a `file "model.swift"` header.
  private func graph(
    _ body: String, extra: String = "", file: StaticString = #filePath, line: UInt = #line
  )
    throws -> Graph
  {
    let text =
      "#dino-ir v1 stage=captured\nfile \"model.swift\"\n\n" + extra
      + "program @p {\n\(body)\n}\n"
    return try parseIR(text, fileName: "bad.ir")
  }

  private func assertError(
    _ body: String, extra: String = "", _ expected: String, requireLocations: Bool = false,
    file: StaticString = #filePath, line: UInt = #line
  ) {
    do {
      let g = try graph(body, extra: extra)
      let errors = Verifier.verifyAll(g, requireLocations: requireLocations)
      XCTAssertEqual(errors.first?.description, expected, file: file, line: line)
      XCTAssertThrowsError(
        try Verifier.verify(g, requireLocations: requireLocations), file: file, line: line
      ) {
        XCTAssertEqual(($0 as? CompileError)?.description, expected, file: file, line: line)
      }
    } catch {
      XCTFail("\(error)", file: file, line: line)
    }
  }

  private let x = "  %0 = input {name=\"x\"} : f32[2,3]  @ :1:5\n"

  func testValidGraphPasses() throws {
    let g = try graph(x + "  %1 = gelu(%0) : f32[2,3]  @ :2:5\n  return y=%1")
    XCTAssertEqual(Verifier.verifyAll(g, requireLocations: true), [])
  }

  func testUndefinedOperand() {
    assertError(
      x + "  %1 = gelu(%7) : f32[2,3]  @ :7:3\n  return",
      "model.swift:7:3: error: gelu: operand %7 is not defined before %1\nnote: in %1 of @p")
  }

  func testUseBeforeDefinition() {
    assertError(
      "  %0 = gelu(%1) : f32[2,3]  @ :4:9\n  %1 = input {name=\"x\"} : f32[2,3]  @ :5:5\n  return",
      "model.swift:4:9: error: gelu: operand %1 is not defined before %0\nnote: in %0 of @p")
  }

  func testWrongArity() {
    assertError(
      x + "  %1 = add(%0) : f32[2,3]  @ :8:11\n  return",
      "model.swift:8:11: error: add: expects 2 operands, got 1\nnote: in %1 of @p")
  }

  func testLeafWithOperands() {
    assertError(
      x + "  %1 = input(%0) {name=\"y\"} : f32[2,3]  @ :2:2\n  return",
      "model.swift:2:2: error: input: a leaf takes no operands\nnote: in %1 of @p")
  }

  func testMissingUnknownAndMistypedAttributes() {
    let gammaBeta = "  %1 = parameter {init=\"ones\", name=\"s.g\", trainable=1} : f32[3]  @ :2:1\n"
    assertError(
      x + gammaBeta + "  %2 = layer_norm(%0, %1, %1) : f32[2,3]  @ :3:14\n  return",
      "model.swift:3:14: error: layer_norm: missing attribute 'eps'\nnote: in %2 of @p")
    assertError(
      x + "  %1 = gelu(%0) {approx=1} : f32[2,3]  @ :3:8\n  return",
      "model.swift:3:8: error: gelu: unknown attribute 'approx'\nnote: in %1 of @p")
    assertError(
      x + "  %1 = scale(%0) {factor=2} : f32[2,3]  @ :3:9\n  return",
      "model.swift:3:9: error: scale: attribute 'factor' must be of kind f\nnote: in %1 of @p")
    assertError(
      x + "  %1 = matmul(%0, %0) {trans_a=2, trans_b=0} : f32[3,3]  @ :3:10\n  return",
      "model.swift:3:10: error: matmul: attribute 'trans_a' must be 0 or 1, got 2\nnote: in %1 of @p"
    )
  }

  func testMatmulInnerDimensions() {
    let w =
      "  %1 = parameter {init=\"zeros\", name=\"student.w\", trainable=1} : f32[4,5]  @ :2:9\n"
    assertError(
      x + w + "  %2 = matmul(%0, %1) {trans_a=0, trans_b=0} : f32[2,5]  @ :58:25\n  return",
      "model.swift:58:25: error: matmul: [2,3] x [4,5] — inner dimensions differ\nnote: in %2 of @p"
    )
  }

  func testStoredTypeDiffersFromInferred() {
    assertError(
      x + "  %1 = gelu(%0) : f32[3,2]  @ :9:9\n  return",
      "model.swift:9:9: error: gelu: stored type f32[3,2] differs from inferred f32[2,3]\nnote: in %1 of @p"
    )
  }

  func testIntegerOperandOutsideDropPathMask() {
    assertError(
      "  %0 = input {name=\"seed\"} : i32[]  @ :1:1\n  %1 = gelu(%0) : f32[]  @ :2:2\n  return",
      "model.swift:2:2: error: gelu: operand 0 must be f32, got i32[]\nnote: in %1 of @p")
  }

  func testConstantDataMustMatchItsType() {
    assertError(
      "  %0 = constant {data=[1.0,2.0,3.0]} : f32[2]  @ :6:6\n  return",
      "model.swift:6:6: error: constant: 3 values for type f32[2]\nnote: in %0 of @p")
  }

  func testEffectOpMutatingANonParameter() {
    assertError(
      x + "  %1 = gelu(%0) : f32[2,3]  @ :2:4\n  %2 = assign(%0, %1) : f32[]  @ :3:4\n  return",
      "model.swift:3:4: error: assign: operand 0 must be a parameter (it is updated in place)\nnote: in %2 of @p"
    )
  }

  func testEffectResultIsNeitherReadNorReturned() {
    let p =
      "  %1 = parameter {init=\"zeros\", name=\"center.c\", trainable=0} : f32[2,3]  @ :2:1\n"
      + "  %2 = assign(%1, %0) : f32[]  @ :3:1\n"
    assertError(
      x + p + "  %3 = scale(%2) {factor=2.0} : f32[]  @ :4:7\n  return",
      "model.swift:4:7: error: scale: operand %2 is the dummy result of effect op assign\nnote: in %3 of @p"
    )
    assertError(
      x + p + "  return z=%2",
      "model.swift:3:1: error: output 'z' of @p is the dummy result of effect op assign")
  }

  func testConflictingParameterDeclarations() {
    let first =
      "program @q {\n  %0 = parameter {init=\"zeros\", name=\"student.w\", trainable=1} : f32[4]  @ :2:9\n  return\n}\n\n"
    assertError(
      "  %0 = parameter {init=\"ones\", name=\"student.w\", trainable=1} : f32[4]  @ :12:3\n  return",
      extra: first,
      "model.swift:12:3: error: parameter 'student.w' declared as f32[4] init ones trainable 1 but earlier as "
        + "f32[4] init zeros trainable 1\nnote: first declared at model.swift:2:9\nnote: in %0 of @p"
    )
  }

  func testParameterNamesAndInitSpecs() {
    assertError(
      "  %0 = parameter {init=\"zeros\", name=\"w\", trainable=1} : f32[4]  @ :3:3\n  return",
      "model.swift:3:3: error: parameter: name 'w' must be <region>.<path>\nnote: in %0 of @p")
    assertError(
      "  %0 = parameter {init=\"normal(-1)\", name=\"student.w\", trainable=1} : f32[4]  @ :3:3\n  return",
      "model.swift:3:3: error: parameter: 'student.w' has bad init 'normal(-1)' (expected zeros, ones, const(v), "
        + "normal(std), trunc_normal(std,a,b), uniform(lo,hi) or copy(<buffer>))\nnote: in %0 of @p"
    )
    assertError(
      "  %0 = parameter {init=\"copy(student.w)\", name=\"teacher.w\", trainable=0} : f32[4]  @ :5:3\n  return",
      "model.swift:5:3: error: parameter 'teacher.w': init copy(student.w) names no parameter of the graph"
    )
    assertError(
      "  %0 = parameter {init=\"zeros\", name=\"student.w\", trainable=2} : f32[4]  @ :3:3\n  return",
      "model.swift:3:3: error: parameter: attribute 'trainable' must be 0 or 1, got 2\nnote: in %0 of @p"
    )
  }

  func testDuplicateInputsOutputsAndPrograms() {
    assertError(
      x + "  %1 = input {name=\"x\"} : f32[2,3]  @ :2:5\n  return",
      "model.swift:2:5: error: duplicate input 'x' in @p\nnote: in %1 of @p")
    assertError(
      x + "  %1 = gelu(%0) : f32[2,3]  @ :2:5\n  return y=%0, y=%1",
      "model.swift:2:5: error: duplicate output 'y' in @p")
    assertError(x + "  return y=%3", "error: output 'y' of @p names undefined %3")
    assertError(
      x + "  return", extra: "program @p {\n  return\n}\n\n", "error: duplicate program @p")
  }

  func testRequiredLocations() {
    assertError(
      x + "  %1 = gelu(%0) : f32[2,3]\n  return",
      "error: gelu: %1 has no source location\nnote: in %1 of @p",
      requireLocations: true)
  }

  func testMemorySlotsAreLeftToTheMemoryProof() throws {
    // Overlapping slots: the verifier accepts them; MemoryPlanCheckTests refuses them.
    let g = try graph(
      "  %0 = input {name=\"x\"} : f32[2,3] [arena+0x00000000 24B 24B]  @ :1:5\n"
        + "  %1 = gelu(%0) : f32[2,3] [arena+0x00000010 24B 24B]  @ :2:5\n  return y=%1\n"
        + "  arena 64B 64B")
    XCTAssertEqual(Verifier.verifyAll(g), [])
    XCTAssertFalse(memoryProblems(g.programs[0]).isEmpty)
  }

  func testVerifyAllReportsEveryBrokenNode() throws {
    let g = try graph(
      x + "  %1 = gelu(%9) : f32[2,3]  @ :2:5\n  %2 = add(%0) : f32[2,3]  @ :3:5\n"
        + "  %3 = scale(%0) {factor=1} : f32[2,3]  @ :4:5\n  return y=%0, y=%2")
    XCTAssertEqual(
      Verifier.verifyAll(g).map(\.description),
      [
        "model.swift:2:5: error: gelu: operand %9 is not defined before %1\nnote: in %1 of @p",
        "model.swift:3:5: error: add: expects 2 operands, got 1\nnote: in %2 of @p",
        "model.swift:4:5: error: scale: attribute 'factor' must be of kind f\nnote: in %3 of @p",
        "model.swift:3:5: error: duplicate output 'y' in @p",
      ])
  }

  func testInitSpecs() {
    XCTAssertEqual(InitSpec(parsing: "zeros"), .zeros)
    XCTAssertEqual(InitSpec(parsing: "const(0.5)"), .constant(0.5))
    XCTAssertEqual(
      InitSpec(parsing: "trunc_normal(0.02,-2,2)"), .truncNormal(std: 0.02, a: -2, b: 2))
    XCTAssertEqual(InitSpec(parsing: "uniform(-0.0625, 0.0625)"), .uniform(lo: -0.0625, hi: 0.0625))
    XCTAssertEqual(InitSpec(parsing: "copy(student.head.w)"), .copy("student.head.w"))
    for bad in [
      "", "zero", "normal()", "normal(1,2)", "uniform(1,0)", "trunc_normal(0.02,2,-2)", "copy()",
      "const(x)",
    ] {
      XCTAssertNil(InitSpec(parsing: bad), bad)
    }
  }
}

/// Broken input never crashes the parser or the verifier.
final class RobustnessTests: XCTestCase {
  func testGoldensWithOneCharacterDeletedNeverCrash() throws {
    var parsed = 0
    var rejected = 0
    for (name, text) in try GoldenTests.goldens() {
      let chars = Array(text)
      for i in stride(from: 0, to: chars.count, by: 5) {
        var broken = chars
        broken.remove(at: i)
        do {
          let graph = try parseIR(String(broken), fileName: name)
          _ = Verifier.verifyAll(graph, requireLocations: true)
          _ = printIR(graph)
          parsed += 1
        } catch {
          XCTAssertTrue(error.description.hasPrefix("\(name):"), error.description)
          rejected += 1
        }
      }
    }
    XCTAssertGreaterThan(rejected, 100)
    XCTAssertGreaterThan(parsed, 100)
  }

  func testHugeShapesAndAttributesAreErrorsNotTraps() throws {
    let text = """
      #dino-ir v1 stage=captured

      program @p {
        %0 = input {name="x"} : f32[1099511627776,1099511627776]
        %1 = input {name="y"} : f32[4]
        %2 = pad(%1) {after=9223372036854775807, axis=0, before=1} : f32[4]
        %3 = reshape(%1) {shape=[4294967296,4294967296,4]} : f32[4]
        return
      }

      """
    let errors = Verifier.verifyAll(try parseIR(text)).map(\.description)
    XCTAssertEqual(
      errors,
      [
        "error: input: shape [1099511627776,1099511627776] has a negative or too large dimension\nnote: in %0 of @p",
        "error: pad: attribute 'after' is out of range\nnote: in %2 of @p",
        "error: reshape: shape [4294967296,4294967296,4] has a negative or too large dimension\nnote: in %3 of @p",
      ])
  }
}

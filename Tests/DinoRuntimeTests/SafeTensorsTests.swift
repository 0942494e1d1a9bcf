import DinoRuntime
import Foundation
import XCTest
import _DinoTestSupport

/// Reading files written by the reference implementation, round trips, and refusal of
/// corrupt files with one clear line.
final class SafeTensorsTests: XCTestCase {
  /// `safetensors.numpy.save` (v0.8.0) of a2x3 F32, I32[3], F16[4], F64[1], I64[2,1], a
  /// scalar F32, metadata {format: pt, step: 7}.
  static let referenceFile = bytes(
    "90010000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074222c2273746570"
      + "223a2237227d2c22652e693634223a7b226474797065223a22493634222c227368617065223a5b322c315d"
      + "2c22646174615f6f666673657473223a5b302c31365d7d2c22642e663634223a7b226474797065223a2246"
      + "3634222c227368617065223a5b315d2c22646174615f6f666673657473223a5b31362c32345d7d2c22612e"
      + "663332223a7b226474797065223a22463332222c227368617065223a5b322c335d2c22646174615f6f6666"
      + "73657473223a5b32342c34385d7d2c2273223a7b226474797065223a22463332222c227368617065223a5b"
      + "5d2c22646174615f6f666673657473223a5b34382c35325d7d2c22622e693332223a7b226474797065223a"
      + "22493332222c227368617065223a5b335d2c22646174615f6f666673657473223a5b35322c36345d7d2c22"
      + "632e663136223a7b226474797065223a22463136222c227368617065223a5b345d2c22646174615f6f6666"
      + "73657473223a5b36342c37325d7d7d20202020200500000000000000f7ffffffffffffff182d4454fb2109"
      + "400000c03f000000c000005040000000006f12833a0000e0c00000204001000000feffffffffffff7f003c"
      + "00b8ff7b0100")

  /// `safetensors.torch.save` of a BF16[3] tensor [1.0, -2.5, 0.1].
  static let bf16File = bytes(
    "38000000000000007b2277223a7b226474797065223a2242463136222c227368617065223a5b335d2c2264"
      + "6174615f6f666673657473223a5b302c365d7d7d20803f20c0cd3d")

  static func bytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.makeIterator()
    while let hi = it.next(), let lo = it.next() {
      out.append(UInt8(String([hi, lo]), radix: 16)!)
    }
    return out
  }

  func testReadsReferenceFile() throws {
    let file = try SafeTensors.decode(Self.referenceFile)
    XCTAssertEqual(file.metadata, ["format": "pt", "step": "7"])
    XCTAssertEqual(Set(file.tensors.keys), ["a.f32", "b.i32", "c.f16", "d.f64", "e.i64", "s"])
    XCTAssertEqual(
      file.tensors["a.f32"], HostTensor(shape: [2, 3], floats: [1.5, -2, 3.25, 0, 1e-3, -7]))
    XCTAssertEqual(file.tensors["b.i32"], HostTensor(shape: [3], ints: [1, -2, Int32.max]))
    XCTAssertEqual(file.tensors["c.f16"]?.shape, [4])
    let half = try XCTUnwrap(file.tensors["c.f16"]?.floats)
    XCTAssertEqual(half[0], 1)
    XCTAssertEqual(half[1], -0.5)
    XCTAssertEqual(half[2], 65504)
    XCTAssertEqual(half[3], 0x1p-24 * 1)  // 6e-8 rounds to the smallest subnormal
    XCTAssertEqual(file.tensors["d.f64"], HostTensor(shape: [1], floats: [Float(Double.pi)]))
    XCTAssertEqual(file.tensors["e.i64"], HostTensor(shape: [2, 1], ints: [5, -9]))
    XCTAssertEqual(file.tensors["s"], HostTensor(shape: [], floats: [2.5]))
  }

  func testReadsBFloat16() throws {
    let file = try SafeTensors.decode(Self.bf16File)
    XCTAssertEqual(file.tensors["w"], HostTensor(shape: [3], floats: [1, -2.5, 0.10009765625]))
  }

  func testRoundTripThroughFile() throws {
    let original = SafeTensors(
      tensors: [
        "student.w": HostTensor(shape: [2, 2], floats: [1, 2, 3, -4]),
        "adam_step.t": HostTensor(shape: [], floats: [3]),
        "seed": HostTensor(shape: [1], ints: [42]),
        "empty": HostTensor(shape: [0, 3], floats: []),
        "empty2": HostTensor(shape: [4_000_000_000, 0], floats: []),
        "we\"ird\nname": HostTensor(shape: [1], floats: [.infinity]),
      ],
      metadata: ["note": "héllo \"quoted\""])
    let encoded = original.encoded()
    let headerLength = encoded[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
    XCTAssertEqual((8 + headerLength) % 8, 0, "data starts 8-byte aligned")
    XCTAssertEqual(try SafeTensors.decode(encoded), original)

    let dir = try temporaryDirectory()
    let path = dir + "/x.safetensors"
    try original.write(to: path)
    XCTAssertEqual(try SafeTensors.read(contentsOf: path), original)
    // Overwriting leaves no temporary files behind.
    try SafeTensors(tensors: ["a": HostTensor(shape: [1], floats: [1])]).write(to: path)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["x.safetensors"])
    XCTAssertEqual(try SafeTensors.read(contentsOf: path).tensors.keys.sorted(), ["a"])
  }

  func testStreamingWriterMatchesEncoder() throws {
    let values: [Float] = [0.5, -1, 2]
    let dir = try temporaryDirectory()
    try values.withUnsafeBytes { raw in
      try SafeTensorsWriter.write(
        to: dir + "/s.safetensors", metadata: ["k": "v"],
        entries: [.init(name: "v", type: .init(.f32, [3]), bytes: raw)])
    }
    let expected = SafeTensors(
      tensors: ["v": HostTensor(shape: [3], floats: values)], metadata: ["k": "v"])
    XCTAssertEqual(try SafeTensors.read(contentsOf: dir + "/s.safetensors"), expected)
    XCTAssertEqual(
      try Array(Data(contentsOf: URL(fileURLWithPath: dir + "/s.safetensors"))), expected.encoded())
    // A size mismatch is refused and nothing is written.
    XCTAssertThrowsError(
      try values.withUnsafeBytes { raw in
        try SafeTensorsWriter.write(
          to: dir + "/bad.safetensors",
          entries: [.init(name: "v", type: .init(.f32, [4]), bytes: raw)])
      })
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/bad.safetensors"))
  }

  func testWriteIntoMissingFolderFails() {
    let file = SafeTensors(tensors: ["a": HostTensor(shape: [1], floats: [1])])
    assertError(
      try file.write(to: "/nonexistent-dino-folder/x.safetensors"),
      contains: "cannot create a temporary file")
  }

  func testMissingFile() {
    assertError(
      try SafeTensors.read(contentsOf: "/nonexistent-dino.safetensors"), contains: "cannot open")
  }

  /// Builds a file from a header text and a data section.
  private func file(_ header: String, data: [UInt8]) -> [UInt8] {
    let json = Array(header.utf8)
    var out: [UInt8] = []
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64(i)))) }
    return out + json + data
  }

  func testCorruptFiles() {
    let eight = [UInt8](repeating: 0, count: 8)
    let cases: [([UInt8], String)] = [
      ([1, 2, 3], "too short for the 8-byte header length"),
      ([0, 0, 0, 0, 0, 0, 0, 0], "header length 0 is not in"),
      (
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7B],
        "header length 18446744073709551615 is not in"
      ),
      ([100, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D], "runs past the end"),
      (file("[1,2]", data: []), "does not start with '{'"),
      (file("{\"a\":", data: []), "not valid JSON"),
      (file("{\"a\":{}} x", data: []), "not valid JSON"),
      (
        file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{}}"#, data: eight),
        "duplicate member"
      ),
      (
        file(#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}"#, data: eight),
        "tensor 'a': unsupported dtype U8"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight),
        "tensor 'a': data_offsets [0,8] hold 8 bytes, shape [3] F32 needs 12"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, data: eight),
        "tensor 'a': data_offsets [0,16] are outside"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: eight),
        "tensor 'a': data_offsets [8,0] are outside"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eight),
        "tensor 'a': shape has a non-integer"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, data: eight),
        "tensor 'a': shape has a non-integer"
      ),
      (
        file(
          #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
          data: eight), "tensor 'a': shape [4294967296,4294967296] is larger"
      ),
      (
        file(
          #"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#, data: eight
        ), "tensor 'a': shape has a non-integer"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, data: eight),
        "tensor 'a': data_offsets must be two"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[2]}}"#, data: eight),
        "tensor 'a': missing 'data_offsets'"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}"#, data: eight),
        "tensor 'a': unknown field 'x'"
      ),
      (file(#"{"a":[1]}"#, data: eight), "tensor 'a': entry is not an object"),
      (
        file(
          #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
          data: eight), "overlap another tensor"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight),
        "tensor 'a': data_offsets [4,8] leave a gap at byte 0"
      ),
      (
        file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: eight),
        "tensors cover 4 bytes but the data section has 8"
      ),
      (file(#"{"__metadata__":{"k":1}}"#, data: []), "__metadata__ value for 'k' is not a string"),
      (
        file(
          #"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#,
          data: [0, 0, 0, 0, 1, 0, 0, 0]), "I64 value 4294967296 does not fit in i32"
      ),
    ]
    for (bytes, expected) in cases {
      assertError(try SafeTensors.decode(bytes), contains: expected)
    }
  }

  func testTruncationsAndBitFlipsNeverCrash() throws {
    let good = Self.referenceFile
    for length in 0..<good.count {
      XCTAssertThrowsError(try SafeTensors.decode(Array(good[0..<length])), "prefix \(length)")
    }
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
      var bad = good
      let i = Int.random(in: 0..<good.count, using: &rng)
      bad[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
      if let file = try? SafeTensors.decode(bad) {
        // Flips inside the data section (or harmless header spaces) still decode consistently.
        for tensor in file.tensors.values {
          XCTAssertEqual(tensor.count, tensor.shape.reduce(1, *))
        }
      }
    }
  }

  func testCorruptFileErrorNamesPath() throws {
    let dir = try temporaryDirectory()
    let path = dir + "/bad.safetensors"
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3])))
    assertError(try SafeTensors.read(contentsOf: path), contains: "\(path): file is 3 bytes")
  }
}

/// Asserts that `body` throws an error whose one-line description contains `text`.
func assertError<T>(
  _ body: @autoclosure () throws -> T, contains text: String, file: StaticString = #filePath,
  line: UInt = #line
) {
  do {
    _ = try body()
    XCTFail("expected an error containing \"\(text)\"", file: file, line: line)
  } catch {
    let message = "\(error)"
    XCTAssertTrue(
      message.contains(text), "\"\(message)\" does not contain \"\(text)\"", file: file, line: line)
    XCTAssertFalse(
      message.contains("\n"), "error is not one line: \(message)", file: file, line: line)
  }
}

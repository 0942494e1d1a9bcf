import DinoIR
import DinoPlan
import XCTest

/// The runtime's region layout: mirrored regions share offsets, everything is aligned,
/// nothing overlaps.
final class PersistentLayoutTests: XCTestCase {
  func testMirroredRegionsShareOneLayout() throws {
    let graph = try PlanFixtures.planned()
    let layout = persistentLayout(graph)
    let buffers = graph.buffers()
    XCTAssertEqual(Set(layout.entries.keys), Set(buffers.map(\.name)))
    let v = "head.last_layer.weight_v"
    let offsets = ["student.\(v)", "teacher.\(v)", "adam_m.student.\(v)", "adam_v.student.\(v)"].map
    {
      layout.entries[$0]?.offset
    }
    XCTAssertEqual(Set(offsets).count, 1, "\(offsets)")
    XCTAssertEqual(
      layout.entries["teacher.patch_embed.weight"]?.offset,
      layout.entries["student.patch_embed.weight"]?.offset)
    XCTAssertEqual(
      layout.entries["teacher.patch_embed.bias"]?.offset,
      layout.entries["student.patch_embed.bias"]?.offset)
    let mirrored = ["student", "teacher", "adam_m", "adam_v", "grad"].map { layout.regionBytes[$0] }
    XCTAssertEqual(Set(mirrored), [3648], "mirrored regions have one size")
    XCTAssertEqual(
      layout.entries["center"], PersistentLayout.Entry(region: "center", offset: 0, bytes: 64))
    XCTAssertEqual(layout.entries["adam_step.student.\(v)"]?.offset, 0)
    XCTAssertEqual(
      layout.regions, ["student", "center", "adam_m", "adam_v", "adam_step", "grad", "teacher"])
  }

  func testAlignedAndDisjoint() throws {
    for graph in [try PlanFixtures.planned(), try PlanFixtures.tiny()] {
      let layout = persistentLayout(graph)
      for region in layout.regions {
        let entries = layout.entries.values.filter { $0.region == region }.sorted {
          $0.offset < $1.offset
        }
        for (a, b) in zip(entries, entries.dropFirst()) {
          XCTAssertLessThanOrEqual(a.offset + a.bytes, b.offset, "\(region) overlaps")
        }
        for e in entries {
          XCTAssertEqual(e.offset % 64, 0)
          XCTAssertLessThanOrEqual(e.offset + e.bytes, layout.regionBytes[region]!)
        }
        XCTAssertEqual(layout.regionBytes[region]! % 64, 0)
      }
    }
  }

  func testPathsOnlyTheTeacherHasAreAppended() throws {
    let graph = try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = parameter {init="zeros", name="teacher.extra", trainable=0} : f32[100]
        %1 = parameter {init="zeros", name="student.a", trainable=1} : f32[4]
        %2 = parameter {init="zeros", name="student.b", trainable=1} : f32[20]
        %3 = parameter {init="zeros", name="teacher.b", trainable=0} : f32[20]
        %4 = parameter {init="zeros", name="adam_m.student.b", trainable=0} : f32[20]
        %5 = input {name="m"} : f32[]
        %6 = ema_update(%3, %2, %5) : f32[]
        %7 = assign(%0, %0) : f32[]
        %8 = ema_update(%4, %1, %5) : f32[]
        return
      }
      """)
    let layout = persistentLayout(graph)
    XCTAssertEqual(layout.entries["student.a"]?.offset, 0)
    XCTAssertEqual(layout.entries["student.b"]?.offset, 64)
    XCTAssertEqual(layout.entries["teacher.b"]?.offset, 64)
    XCTAssertEqual(layout.entries["adam_m.student.b"]?.offset, 64)
    XCTAssertEqual(layout.entries["teacher.extra"]?.offset, 192, "after every student path")
    XCTAssertEqual(layout.regionBytes["student"], 640)
    XCTAssertEqual(layout.regionBytes["teacher"], 640)
    XCTAssertEqual(layout.regionBytes["adam_m"], 640)
  }
}

/// Checks the invariants every pass must preserve; run after each pass of the pipeline.
///
/// Errors carry the offending node's model.swift location and a note `in %N of @program`.
/// Checks, per node: operands defined earlier (SSA, topological order); arity and attribute
/// schema, flags 0 or 1, kernel slot limits; types recomputed from the op table against stored
/// types; leaves take no operands, parameters are f32 named `<region>.<path>` with a valid init
/// spec, inputs are named; effect ops mutate only `parameter` values and their dummy results are
/// never read. Per program: unique input and output names, outputs name defined values that are
/// not effect results. Per graph: unique program names; a persistent buffer has one type,
/// init and trainability; `copy(…)` inits name a buffer of the same type; `region` leaves
/// have their region's size and flat ops' segment tables match the persistent layout
/// (`Verifier+SegmentTable.swift`). Memory slots are
/// not its business: the memory proof (`memoryProblems`) runs once at the end of
/// compilation and once at load.
public enum Verifier {
  /// Verifies `graph`, throwing the first problem found with its model.swift location.
  /// - Parameters:
  ///   - graph: the graph to check.
  ///   - requireLocations: also require a known source location on every node (graphs
  ///     straight from the DSL, where every node comes from a located call).
  public static func verify(_ graph: Graph, requireLocations: Bool = false) throws(CompileError) {
    if let first = verifyAll(graph, requireLocations: requireLocations).first { throw first }
  }

  /// Verifies `graph` and returns every problem found (at most one per node), in program
  /// and node order; empty when the graph is valid.
  /// - Parameters:
  ///   - graph: the graph to check.
  ///   - requireLocations: also require a known source location on every node.
  public static func verifyAll(_ graph: Graph, requireLocations: Bool = false) -> [CompileError] {
    var errors: [CompileError] = []
    var programNames = Set<String>()
    var buffers: [String: Node] = [:]
    for program in graph.programs {
      if !programNames.insert(program.name).inserted {
        errors.append(CompileError("duplicate program @\(program.name)"))
      }
      errors += verify(program, buffers: &buffers, requireLocations: requireLocations)
    }
    for name in buffers.keys.sorted() {
      let node = buffers[name]!
      guard case .copy(let source)? = InitSpec(parsing: node.attrs.string("init")) else { continue }
      if let original = buffers[source] {
        if original.type != node.type {
          errors.append(
            CompileError(
              "parameter '\(name)': init copy(\(source)) copies \(original.type) into \(node.type)",
              at: node.loc))
        }
      } else {
        errors.append(
          CompileError(
            "parameter '\(name)': init copy(\(source)) names no parameter of the graph",
            at: node.loc))
      }
    }
    if errors.isEmpty { errors += layoutProblems(graph) }
    return errors
  }

  /// The checks of one program; `buffers` collects the first declaration of each buffer.
  private static func verify(
    _ program: Program, buffers: inout [String: Node], requireLocations: Bool
  ) -> [CompileError] {
    var errors: [CompileError] = []
    var inputNames = Set<String>()
    for (index, node) in program.nodes.enumerated() {
      func fail(_ message: String, notes: [String] = []) {
        errors.append(
          CompileError(message, at: node.loc, notes: notes + ["in %\(index) of @\(program.name)"]))
      }
      if let problem = problem(of: node, index: index, in: program) {
        fail(problem)
        continue
      }
      if requireLocations && node.loc == .unknown {
        fail("\(node.op.name): %\(index) has no source location")
        continue
      }
      if node.op == .input && !inputNames.insert(node.attrs.string("name")).inserted {
        fail("duplicate input '\(node.attrs.string("name"))' in @\(program.name)")
      }
      if node.op == .parameter {
        let name = node.attrs.string("name")
        if let first = buffers[name] {
          if first.type != node.type || first.attrs != node.attrs {
            let earlier = declaration(first)
            fail(
              "parameter '\(name)' declared as \(declaration(node)) but earlier as \(earlier)",
              notes: ["first declared at \(first.loc)"])
          }
        } else {
          buffers[name] = node
        }
      }
    }
    var outputNames = Set<String>()
    for output in program.outputs {
      let defined = output.value.index >= 0 && output.value.index < program.nodes.count
      let node = defined ? program[output.value] : nil
      func fail(_ message: String) {
        errors.append(CompileError(message, at: node?.loc ?? .unknown))
      }
      if !defined {
        fail("output '\(output.name)' of @\(program.name) names undefined \(output.value)")
      } else if !outputNames.insert(output.name).inserted {
        fail("duplicate output '\(output.name)' in @\(program.name)")
      } else if let node, node.op.isEffect {
        let what = "the dummy result of effect op \(node.op.name)"
        fail("output '\(output.name)' of @\(program.name) is \(what)")
      }
    }
    return errors
  }

  /// `f32[4] init zeros trainable 1`, for conflicting declarations.
  private static func declaration(_ node: Node) -> String {
    "\(node.type) init \(node.attrs.string("init")) trainable \(node.attrs.int("trainable"))"
  }
}

import DinoIR

/// Lowers DINO's optimiser step into `train_step` (docs/DINO.md §5.2–5.4).
///
/// Consumes the `grad.<name>` outputs left by `differentiate` and, per trainable student
/// parameter, appends: DINO's per-parameter clipping (`clip_grad_coef`, then `mul`; skipped
/// when `clip_grad` is 0), the last-layer freeze (parameters whose name contains
/// `last_layer` are gated by the `last_layer_gate` input: gate 0 leaves the parameter, its
/// moments and its step count untouched, as `grad = None` does), and `adamw_update`
/// (β 0.9/0.999, ε 1e-8; weight decay only for parameters that are neither `.bias` nor 1-D)
/// over persistent `adam_m.*`, `adam_v.*` and `adam_step.*` buffers. Inputs `lr` and `wd`
/// are the step's scheduled values.
public func appendOptimizer(_ graph: Graph, program name: String = "train_step")
  throws(CompileError) -> Graph
{
  guard let index = graph.programIndex(name) else {
    throw CompileError("optimizer: no program @\(name) to lower the optimiser into")
  }
  var graph = graph
  var program = graph.programs[index]
  let gradOutputs = program.outputs.filter { $0.name.hasPrefix("grad.") }
  if gradOutputs.isEmpty {
    throw CompileError("optimizer: @\(name) has no gradients (run differentiate first)")
  }
  program.outputs.removeAll { $0.name.hasPrefix("grad.") }
  let clip = graph.hyper["clip_grad"] ?? 3.0
  let loc = program.outputs.first.map { program[$0.value].loc } ?? .unknown

  var scalarInputs: [String: ValueID] = [:]
  func scalarInput(_ inputName: String) -> ValueID {
    if let existing = scalarInputs[inputName] { return existing }
    if let found = program.nodes.firstIndex(where: {
      $0.op == .input && $0.attrs.string("name") == inputName
    }) {
      scalarInputs[inputName] = ValueID(found)
      return ValueID(found)
    }
    let id = program.append(
      Node(
        .input, attrs: ["name": .string(inputName)], type: .scalar, loc: loc,
        scope: "optimizer"))
    scalarInputs[inputName] = id
    return id
  }
  let lr = scalarInput("lr"), wd = scalarInput("wd")
  var one: ValueID?

  for output in gradOutputs {
    let paramName = String(output.name.dropFirst("grad.".count))
    guard
      let paramIndex = program.nodes.firstIndex(where: {
        $0.op == .parameter && $0.attrs.string("name") == paramName
      })
    else {
      throw CompileError("optimizer: gradient '\(output.name)' names no parameter of @\(name)")
    }
    let param = ValueID(paramIndex)
    let paramNode = program[param]
    let scope = "optimizer.\(paramName)"
    var grad = output.value
    if clip > 0 {
      let coef = program.append(
        Node(
          .clipGradCoef, [grad], attrs: ["max_norm": .float(clip)], type: .scalar,
          loc: paramNode.loc, scope: scope))
      grad = program.append(
        Node(.mul, [grad, coef], type: paramNode.type, loc: paramNode.loc, scope: scope))
    }
    let gate: ValueID
    if paramName.contains("last_layer") {
      gate = scalarInput("last_layer_gate")
    } else {
      if one == nil {
        one = program.append(
          Node(
            .constant, attrs: ["data": .floats([1])], type: .scalar, loc: loc,
            scope: "optimizer"))
      }
      gate = one!
    }
    func state(_ region: String, _ type: TensorType) -> ValueID {
      program.append(
        Node(
          .parameter,
          attrs: [
            "name": .string("\(region).\(paramName)"), "init": .string("zeros"),
            "trainable": .int(0),
          ],
          type: type, loc: paramNode.loc, scope: scope))
    }
    let m = state("adam_m", paramNode.type), v = state("adam_v", paramNode.type)
    let t = state("adam_step", .scalar)
    let decays = !(paramName.hasSuffix(".bias") || paramNode.type.rank == 1)
    program.append(
      Node(
        .adamwUpdate, [param, grad, m, v, t, lr, wd, gate],
        attrs: [
          "beta1": .float(0.9), "beta2": .float(0.999), "eps": .float(1e-8),
          "decay": .int(decays ? 1 : 0),
        ],
        type: .scalar, loc: paramNode.loc, scope: scope))
  }
  graph.programs[index] = program
  graph.stage = "optimizer"
  return graph
}

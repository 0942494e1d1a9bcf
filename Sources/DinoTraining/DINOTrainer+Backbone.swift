import DinoRuntime

extension DINOTrainer {
  /// Starts from a backbone file (`BackboneFile`): the student's and the teacher's
  /// backbones both take its tensors, the heads come from their init specs with `seed`
  /// (the teacher's head a copy of the student's), the center is zeros and the optimiser
  /// state fresh. Every backbone tensor of the plan must be in the file with its shape;
  /// any other tensor is an error.
  public func loadBackbone(_ file: SafeTensors, seed: UInt64 = 0, source: String = "backbone")
    throws(RuntimeError)
  {
    let buffers = try BackboneFile.planBuffers(runtime.graph, region: "student")
    for name in file.tensors.keys.sorted() where buffers[name] == nil {
      throw RuntimeError(
        "\(source): tensor '\(name)' is not a backbone tensor of the plan "
          + "(a ViT of another architecture?)")
    }
    var tensors: [String: HostTensor] = [:]
    for (name, buffer) in buffers {
      guard let tensor = file.tensors[name] else {
        throw RuntimeError("\(source) has no '\(name)', a backbone tensor of the plan")
      }
      guard tensor.shape == buffer.type.shape else {
        throw RuntimeError(
          "\(source): '\(name)' is \(tensor.type) but the plan's backbone has \(buffer.type) "
            + "(export from a plan of the same size)")
      }
      for region in ["student", "teacher"] {
        tensors[region + "." + BackboneFile.prefix + name] = tensor
      }
    }
    try runtime.initializeParameters(seed: seed)
    try runtime.loadBuffers(SafeTensors(tensors: tensors), source: source)
  }
}

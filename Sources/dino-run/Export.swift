import ArgumentParser
import DinoFileGuard
import DinoRuntime
import DinoTraining
import Foundation

extension DinoRunCommand {
  /// `dino-run export`: the backbone under official names, for PyTorch and timm.
  struct Export: Subcommand {
    static let configuration = CommandConfiguration(
      abstract: "Write the teacher's (or student's) ViT backbone under official names.",
      discussion: """
        Writes the backbone's tensors of a checkpoint as a safetensors file with the state- \
        dict names of official DINO's vision_transformer.VisionTransformer and timm's \
        VisionTransformer (cls_token, pos_embed, patch_embed.proj.weight, \
        blocks.N.attn.qkv.weight, …, norm.weight, norm.bias) and their PyTorch shapes, and \
        the architecture in the metadata (img_size, patch_size, in_chans, embed_dim, depth, \
        num_heads, mlp_ratio, qkv_bias). In Python: \
        model.load_state_dict(safetensors.torch.load_file(path), strict=True). \
        `train` and `step` accept such a file as --init (both backbones from it, the heads \
        from their init specs).
        """)

    @Argument(help: "The compiled plan (plan.bin) the checkpoint belongs to.")
    var plan: String

    @Option(help: "Checkpoint or weights file with teacher.* (or student.*) tensors.")
    var checkpoint: String

    @Option(name: .shortAndLong, help: "Output safetensors file.")
    var output: String

    @Flag(help: "Export the student's backbone instead of the teacher's.")
    var student = false

    func execute() throws(RuntimeError) {
      try checkOutputs { (outputs) throws(OutputGuardError) in
        outputs.reads(file: plan, as: "plan")
        outputs.reads(file: checkpoint, as: "--checkpoint")
        try outputs.check(output: output, as: "-o")
      }
      let graph = try loadPlan(plan)
      guard FileManager.default.fileExists(atPath: checkpoint) else {
        throw RuntimeError("checkpoint '\(checkpoint)' does not exist")
      }
      let weights = try readTensors(checkpoint)
      let file = try BackboneFile.export(
        weights, graph: graph, source: student ? .student : .teacher,
        checkpointName: checkpoint)
      try writeTensors(file, to: output)
      let m = file.metadata
      print(
        "wrote \(output): \(file.tensors.count) \(m["source"]!) backbone tensors, ViT "
          + "patch \(m["patch_size"]!), dim \(m["embed_dim"]!), depth \(m["depth"]!), "
          + "heads \(m["num_heads"]!), image \(m["img_size"]!), \(m["in_chans"]!) channel(s)")
    }
  }
}

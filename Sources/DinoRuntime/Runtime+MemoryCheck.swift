import DinoPlan

extension Runtime {
  /// Refuses, before anything is allocated, a plan that needs more memory than the machine
  /// has available now (`MemAvailable` of /proc/meminfo), in one line with the numbers.
  static func checkMemory(_ needs: PlanMemoryNeeds) throws(RuntimeError) {
    guard let available = MachineMemory.available, needs.total > available else { return }
    throw RuntimeError(
      "the plan needs \(needs.description), more than the \(MachineMemory.text(available)) "
        + "of memory available now (MemAvailable): free memory or compile a smaller model")
  }
}

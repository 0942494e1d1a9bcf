/// `-D name=value` pairs with a repeated name merged: the last value wins, in the place of
/// the first (dinoc refuses a repeated `-D`; tests append their overrides to shared lists).
public func mergedDefines(_ arguments: [String]) -> [String] {
  var order: [String] = []
  var values: [String: String] = [:]
  var rest: [String] = []
  var index = 0
  while index < arguments.count {
    if arguments[index] == "-D", index + 1 < arguments.count {
      let define = arguments[index + 1]
      let name = String(define.prefix { $0 != "=" })
      if values[name] == nil { order.append(name) }
      values[name] = define
      index += 2
    } else {
      rest.append(arguments[index])
      index += 1
    }
  }
  return rest + order.flatMap { ["-D", values[$0]!] }
}

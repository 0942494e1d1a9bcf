/// Anything that owns parameters or other modules in stored properties; registered with
/// `Model.register(_:as:)`, it names them after its property labels (PyTorch state-dict paths).
///
/// Conform a layer whose call takes something other than one tensor to `Module` and wrap its
/// body in `scoped` so that errors name the layer:
/// ```swift
/// final class Attention: Module {
///   let qkv: Linear
///   func callAsFunction(_ x: Tensor, heads: Int,
///                       file: String = #filePath, line: UInt = #line, column: UInt = #column) -> Tensor {
///     scoped(file: file, line: line, column: column) { … }
///   }
/// }
/// ```
public protocol Module: AnyObject {
  /// State-dict keys for stored properties (or their array elements) whose PyTorch name is
  /// not the property label: `["clsToken": "cls_token", "layers": "mlp"]`, or element by
  /// element `["layers.1": "mlp.2"]` (an `nn.Sequential` with activations in between). Empty
  /// by default.
  var parameterKeys: [String: String] { get }
}

extension Module {
  /// No renamed keys: every child is named by its property label.
  public var parameterKeys: [String: String] { [:] }
}

/// A module that maps one tensor to one tensor: implement `forward`, call it as `layer(x)`.
public protocol Layer: Module {
  /// The computation; runs inside the layer's scope when the layer is called.
  func forward(_ x: Tensor) -> Tensor
}

extension Module {
  /// Runs `body` with this module as the innermost scope: nodes it records carry the module's
  /// path, errors name it, and operations inside DinoDSL's own layers are attributed to this call.
  /// - Parameters:
  ///   - body: the module's computation.
  /// - Returns: what `body` returns.
  public func scoped<T>(
    file: String = #filePath, line: UInt = #line, column: UInt = #column, _ body: () -> T
  ) -> T {
    let loc = session.userLoc(file, line, column)
    let path = session.layerPaths[ObjectIdentifier(self)] ?? ""
    session.scopes.append(Scope(path: path, typeName: "\(type(of: self))", loc: loc))
    defer { session.scopes.removeLast() }
    return body()
  }
}

extension Layer {
  /// Applies the layer: `forward(x)` inside the layer's scope.
  /// - Parameters:
  ///   - x: the input.
  /// - Returns: the layer's output.
  public func callAsFunction(
    _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) { forward(x) }
  }
}

/// Walks a registered module's stored properties and names what it finds.
struct Naming {
  /// The registered root name.
  let root: String
  /// Overrides every parameter's trainability.
  let trainable: Bool?
  /// Initialise parameters as copies of the same path under this root.
  let source: String?
  private var visited = Set<ObjectIdentifier>()

  init(root: String, trainable: Bool?, source: String?) {
    self.root = root
    self.trainable = trainable
    self.source = source
  }

  /// Names `value` `path` if it is a parameter or module, and recurses into a module's
  /// stored properties. The first path found for an object wins (shared objects keep one name).
  mutating func visit(_ value: Any, path: String) {
    if let parameter = value as? Parameter {
      guard parameter.name == nil else { return }
      session.name(parameter, path)
      guard parameter.name != nil else { return }
      if let trainable { parameter.trainable = trainable }
      if let source { parameter.initializer = .copy(source + path.dropFirst(root.count)) }
      return
    }
    guard let module = value as? any Module else { return }
    let id = ObjectIdentifier(module)
    guard visited.insert(id).inserted, session.layerPaths[id] == nil else { return }
    session.layerPaths[id] = path
    let keys = module.parameterKeys
    var mirror: Mirror? = Mirror(reflecting: module)
    while let current = mirror {
      for child in current.children {
        guard let label = child.label.map(Naming.key) else { continue }
        visitMember(child.value, relative: label, key: keys[label] ?? label, in: path, keys: keys)
      }
      mirror = current.superclassMirror
    }
  }

  /// Visits a stored property (`relative` is its label, or `label.i` for an array element) under
  /// the key it is saved as; unwraps optionals and numbers array elements.
  private mutating func visitMember(
    _ value: Any, relative: String, key: String, in path: String, keys: [String: String]
  ) {
    if value is Parameter || value is any Module {
      visit(value, path: "\(path).\(key)")
      return
    }
    let mirror = Mirror(reflecting: value)
    switch mirror.displayStyle {
    case .optional:
      if let some = mirror.children.first {
        visitMember(some.value, relative: relative, key: key, in: path, keys: keys)
      }
    case .collection:
      for (i, element) in mirror.children.enumerated() {
        let elementRelative = "\(relative).\(i)"
        visitMember(
          element.value, relative: elementRelative, key: keys[elementRelative] ?? "\(key).\(i)",
          in: path, keys: keys)
      }
    default:
      break
    }
  }

  /// The state-dict key for a stored property: property wrappers' `_x` and lazy storage read `x`.
  static func key(_ label: String) -> String {
    let lazyPrefix = "$__lazy_storage_$_"
    if label.hasPrefix(lazyPrefix) { return String(label.dropFirst(lazyPrefix.count)) }
    if label.hasPrefix("_") { return String(label.dropFirst()) }
    return label
  }
}

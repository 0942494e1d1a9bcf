import DinoIR

private typealias R = ReferenceInterpreter

/// The softmax family: `Reference+Softmax.swift` holds the loops.
let softmaxOracleRows: [OracleRow] = [
  rowsRow(.softmax, operands: 1, reference: { x, _ in [R.softmax(x[0])] }) { _, r in
    r.float(-8, 8)
  },
  rowsRow(.softmaxBwd, operands: 2, reference: { x, _ in [R.softmaxBwd(x[0], x[1])] }) {
    i, r in i == 0 ? r.float(-1, 1) : r.float(0, 1)
  },
  rowsRow(.logSoftmax, operands: 1, reference: { x, _ in [R.logSoftmax(x[0])] }) { _, r in
    r.float(-8, 8)
  },
  rowsRow(.logSoftmaxBwd, operands: 2, reference: { x, _ in [R.logSoftmaxBwd(x[0], x[1])] }) {
    i, r in i == 0 ? r.float(-1, 1) : r.float(-6, 0)
  },
]

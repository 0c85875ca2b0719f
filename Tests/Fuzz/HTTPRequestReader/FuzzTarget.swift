/// libFuzzer's entry for `HTTPRequestReader`, built by `scripts/fuzz` together with the reader's own source file.
///
/// Each input is read twice: at once, and in pieces of 1 to 13 bytes (the first byte chooses). Both must give the same
/// requests and refusals in the same order, since the server reads whatever a socket happens to hand it; and every
/// request must be one the server can answer. Small limits let the fuzzer reach every refusal with short inputs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequestReader(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    let limits = HTTPRequestReader.Limits(requestLineBytes: 64, headBytes: 256, headerCount: 8)
    let whole = outcomes(of: [bytes[...]], limits)
    let step = Int(bytes.first ?? 0) % 13 + 1
    let pieces = stride(from: 0, to: bytes.count, by: step).map { bytes[$0..<min($0 + step, bytes.count)] }
    let split = outcomes(of: pieces, limits)
    precondition(whole == split, "read at once: \(whole); in pieces of \(step): \(split)")
    for outcome in whole {
        switch outcome {
        case .request(let head):
            precondition(head.method == "GET" || head.method == "HEAD", "method \(head.method)")
            precondition(head.path.hasPrefix("/") && !head.path.contains("?"), "path \(head.path)")
        case .refused(let status, let reason):
            precondition([400, 405, 414, 431, 505].contains(status), "status \(status)")
            precondition(!reason.isEmpty && !reason.contains("\n"), "reason \(reason)")
        case .needMore:
            preconditionFailure("needMore is not an outcome to record")
        }
    }
    return 0
}

/// The requests and the refusal, if any, that reading `pieces` one after another gives.
private func outcomes(
    of pieces: [ArraySlice<UInt8>], _ limits: HTTPRequestReader.Limits
) -> [HTTPRequestReader.Outcome] {
    var reader = HTTPRequestReader(limits: limits)
    var seen: [HTTPRequestReader.Outcome] = []
    for piece in pieces {
        var outcome = reader.read(piece)
        while case .request = outcome {
            seen.append(outcome)
            outcome = reader.next()
        }
        if case .refused = outcome {
            seen.append(outcome)
            break
        }
    }
    return seen
}

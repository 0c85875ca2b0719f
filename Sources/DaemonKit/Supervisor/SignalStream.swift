import Dispatch
import Foundation

/// Delivers Unix signals as an async sequence, so a supervisor handles them in its event loop like any other event.
///
/// Each signal's default action is replaced by `SIG_IGN` (which is what lets a dispatch source receive it on Linux);
/// the sources live as long as this object, so keep it while its `signals` are read.
public final class SignalStream {
    public let signals: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    public init(_ numbers: [Int32]) {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        signals = stream
        sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    deinit {
        for source in sources { source.cancel() }
    }
}

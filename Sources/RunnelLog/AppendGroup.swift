import Synchronization

/// The results of a multi-log append; the caller resumes when the last log has answered.
final class AppendGroup: Sendable {
    private struct State {
        var results: [Result<AppendResult, LogError>?]
        var remaining: Int
        var continuation: CheckedContinuation<[Result<AppendResult, LogError>], Never>?
    }

    private let state: Mutex<State>

    init(count: Int, continuation: CheckedContinuation<[Result<AppendResult, LogError>], Never>) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count, continuation: continuation))
    }

    func complete(_ index: Int, _ result: Result<AppendResult, LogError>) {
        let finished = state.withLock {
            state -> ([Result<AppendResult, LogError>], CheckedContinuation<[Result<AppendResult, LogError>], Never>)?
            in
            guard state.results[index] == nil else { return nil }
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0, let continuation = state.continuation else { return nil }
            state.continuation = nil
            let results = state.results.map { $0 ?? .failure(LogError(.storage, "the append was not completed")) }
            return (results, continuation)
        }
        if let (results, continuation) = finished { continuation.resume(returning: results) }
    }
}

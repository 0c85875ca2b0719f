import ArgumentParser
import DaemonKit

/// Exit code of `status`, `stop`, `drain`, `undrain` and `reload` when this node's daemon does not run, as LSB init
/// scripts use it.
let notRunningExitCode: Int32 = 3

extension PidFile.State {
    /// What a command says when no supervisor holds this node's pid file: a stale file names its pid, so an operator
    /// sees why the file is not trusted.
    func notRunningSentence(node: String, pidFile: String) -> String {
        let stale = staleFile(pidFile).map { "; \($0)" } ?? ""
        return "pgdaemon is not running on node \(node)\(stale)."
    }

    /// "the stale pid file PATH names pid N, another program" for a file that no supervisor holds.
    func staleFile(_ path: String) -> String? {
        guard case .stale(let pid, let pidIsAlive) = self else { return nil }
        return "the stale pid file \(path) names pid \(pid), \(pidIsAlive ? "another program" : "which has exited")"
    }
}

/// The configuration and the pid of this node's live supervisor, proven by the lock it holds on its pid file; when
/// there is none, the reason goes to stdout and the command exits 3, having signalled nothing.
func runningSupervisor(_ global: GlobalOptions, _ registry: ModuleRegistry) throws -> (Configuration, Int32) {
    let configuration = try global.loadConfiguration(registry)
    let path = configuration.daemon.pidFile
    let state = PidFile(path: path).state()
    guard let pid = state.livePID else {
        print(state.notRunningSentence(node: configuration.node, pidFile: path))
        throw ExitCode(notRunningExitCode)
    }
    return (configuration, pid)
}

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
/// Its node is the one the supervisor runs as (`runningNode`).
func runningSupervisor(_ global: GlobalOptions, _ registry: ModuleRegistry) throws -> (Configuration, Int32) {
    var configuration = try global.loadConfiguration(registry)
    let path = configuration.daemon.pidFile
    let state = PidFile(path: path).state()
    guard let pid = state.livePID else {
        print(state.notRunningSentence(node: configuration.node, pidFile: path))
        throw ExitCode(notRunningExitCode)
    }
    configuration.node = try runningNode(configuration, pid: pid, requested: global.requestedNode)
    return (configuration, pid)
}

/// The name of the node that the live supervisor `pid` of the configuration's pid file runs as, which it wrote there:
/// `pgdaemon run --node NAME` runs under a name the configuration does not give. The configuration's name while the
/// supervisor has not written one yet (it is starting). When `--node` or `PGDAEMON_NODE` asked for another node, it
/// says so on stdout and the command exits 3, as that node does not run here.
func runningNode(_ configuration: Configuration, pid: Int32, requested: String?) throws -> String {
    let pidFile = configuration.daemon.pidFile
    guard let running = PidFile(path: pidFile).node() else { return configuration.node }
    if let requested, requested != running {
        print(
            "pgdaemon is not running as node \(requested) here: the supervisor of \(pidFile) (pid \(pid)) is node "
                + "\(running); --node \(running) acts on it.")
        throw ExitCode(notRunningExitCode)
    }
    return running
}

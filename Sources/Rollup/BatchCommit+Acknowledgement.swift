import Checkpoints
import OTLP

extension BatchCommit {
    /// This commit of a delivered batch once the receiver acknowledged it: what it rejected
    /// (`partial_success`), counted in `unit`s (`points`, `spans`). The machine that cut the batch
    /// and the runner that commits it on the worker both take it from here.
    package func acknowledged(by ack: ExportAcknowledgement, unit: String) -> BatchCommit {
        var commit = self
        commit.pointsRejected = ack.rejected
        if ack.rejected > 0 || ack.message != nil { commit.rejectionMessage = ack.message ?? "\(ack.rejected) \(unit) rejected" }
        return commit
    }
}

//! The lab's forward proxy (placeholder: accepts and closes until the proxy is written).

use tokio::net::TcpListener;

use super::context::ProxyContext;

/// Serve proxy clients on `listener` until `ctx.shutdown` is cancelled.
pub(crate) async fn serve(listener: TcpListener, ctx: ProxyContext) {
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            accepted = listener.accept() => {
                if let Err(error) = accepted {
                    tracing::debug!(%error, proxy = %ctx.plan.name, "accept failed");
                }
            }
        }
    }
}

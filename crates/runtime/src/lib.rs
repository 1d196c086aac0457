//! Process plumbing shared by every service and the `rustack` binary: tracing set-up,
//! binding listeners with errors that name the option to change, serving an axum router
//! until shutdown, and waiting for SIGTERM/SIGINT.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Failure to start listening.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The port is already taken by another process.
    #[error("{service}: port {port} on {addr} is already in use (change it with {option})")]
    InUse {
        service: String,
        addr: IpAddr,
        port: u16,
        option: String,
    },
    /// Any other bind failure (permissions, bad address).
    #[error("{service}: cannot listen on {addr}:{port} (change it with {option})")]
    Other {
        service: String,
        addr: IpAddr,
        port: u16,
        option: String,
        #[source]
        source: std::io::Error,
    },
}

/// Binds `addr:port` for `service`; `option` names the flag or config key that changes it.
pub async fn bind(
    service: &str,
    addr: IpAddr,
    port: u16,
    option: &str,
) -> Result<TcpListener, BindError> {
    match TcpListener::bind(SocketAddr::new(addr, port)).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(BindError::InUse {
            service: service.to_string(),
            addr,
            port,
            option: option.to_string(),
        }),
        Err(source) => Err(BindError::Other {
            service: service.to_string(),
            addr,
            port,
            option: option.to_string(),
            source,
        }),
    }
}

/// A signal every server watches to stop gracefully.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending side of [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

/// A new shutdown trigger and the signal servers watch.
pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

impl ShutdownTrigger {
    /// Asks every watcher to stop.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }
}

impl Shutdown {
    /// Resolves when shutdown was triggered (or the trigger was dropped).
    pub async fn wait(mut self) {
        while !*self.rx.borrow() {
            if self.rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown`, finishing in-flight requests.
pub fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: Shutdown,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.wait())
        .await
    })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination_signal() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// Installs the global tracing subscriber: one line per event, level from `RUST_LOG`
/// (default `info`). Safe to call more than once (later calls are ignored).
pub fn init_tracing(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colour only on a terminal: logs written to a file or a pipe carry no escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn port_in_use_names_port_and_option() {
        let first = bind("identity", "127.0.0.1".parse().expect("ip"), 0, "--bind")
            .await
            .expect("bind");
        let port = first.local_addr().expect("addr").port();
        let err = bind(
            "identity",
            "127.0.0.1".parse().expect("ip"),
            port,
            "[identity] port",
        )
        .await
        .expect_err("in use");
        let text = err.to_string();
        assert!(text.contains(&port.to_string()), "{text}");
        assert!(text.contains("[identity] port"), "{text}");
    }

    #[tokio::test]
    async fn shutdown_wakes_waiters() {
        let (trigger, sd) = shutdown_channel();
        let h = tokio::spawn(sd.wait());
        trigger.trigger();
        h.await.expect("joined");
    }
}

//! Listening sockets inside other network namespaces.
//!
//! A socket belongs to the network namespace of the thread that created it, for its whole
//! life. So one process can serve every `qdhcp-`/`qrouter-` namespace: a short-lived,
//! dedicated std thread enters the namespace with `setns(CLONE_NEWNET)` (the safe
//! `nix::sched::setns` wrapper; the workspace denies `unsafe`), binds, and exits. The
//! listener is then handed to tokio and keeps serving inside that namespace. The thread
//! must be a fresh one and must end: a pooled thread (tokio's `spawn_blocking`) would stay
//! in the namespace and later run unrelated work there.
//!
//! While a socket is open its namespace stays alive even after `ip netns del`, so the
//! proxy closes listeners whose namespace is gone or was recreated (a different inode).

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

/// Identity of a namespace: device and inode of its nsfs file.
pub type NetnsId = (u64, u64);

/// The file `ip netns` keeps for namespace `name` under `dir` (`/run/netns`).
pub fn netns_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The identity of the namespace at `path`, `None` when it does not exist.
pub fn netns_id(path: &Path) -> Option<NetnsId> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Binds a non-blocking TCP listener on `addr` inside the namespace at `netns` (or in the
/// caller's namespace for `None`), returning it with the namespace identity it was bound
/// in. Blocking: call it from `spawn_blocking`.
pub fn bind_in_netns(
    netns: Option<&Path>,
    addr: SocketAddr,
) -> io::Result<(TcpListener, Option<NetnsId>)> {
    let Some(path) = netns else {
        let l = TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        return Ok((l, None));
    };
    let path = path.to_path_buf();
    let worker = std::thread::Builder::new()
        .name("metadata-netns-bind".into())
        .spawn(move || -> io::Result<(TcpListener, Option<NetnsId>)> {
            let f = File::open(&path)?;
            let m = f.metadata()?;
            setns(&f, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            let l = TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            // This thread ends here, so nothing else ever runs in the namespace.
            Ok((l, Some((m.dev(), m.ino()))))
        })?;
    worker
        .join()
        .map_err(|_| io::Error::other("namespace bind thread panicked"))?
}

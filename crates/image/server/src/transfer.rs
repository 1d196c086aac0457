//! The streaming data path shared by upload (`PUT .../file`), staging
//! (`PUT .../stage`) and import: chunks flow from the request body (or the staged
//! object, or a `web-download` response) into an [`ImageStore`] writer while MD5 and
//! SHA-512 are computed on two blocking threads, each behind a bounded channel, so
//! memory stays bounded whatever the image size and the two digests use both cores.
//! The first bytes are kept to read the virtual size from a qcow2 header (raw images'
//! virtual size is their size).

use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::Digest;
use tokio::sync::mpsc;

use crate::blob::{ImageStore, StoreError};
use crate::ImageService;

/// Chunks in flight to each hashing thread.
const HASH_DEPTH: usize = 8;
/// Request chunks (often a few KiB) are coalesced into pieces of this size before
/// they are handed to the hashing threads and the store: fewer thread wake-ups.
const PIECE: usize = 1 << 20;
/// Bytes kept from the start of the data for format inspection.
const HEADER_LEN: usize = 512;

/// What a completed transfer produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes written.
    pub size: u64,
    /// MD5 hex digest.
    pub md5: String,
    /// SHA-512 hex digest.
    pub sha512: String,
    /// The first bytes of the data (at most 512).
    pub header: Vec<u8>,
    /// The committed object's location.
    pub location: String,
}

/// Why a transfer stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Reading the source failed (client disconnected, truncated body, remote error).
    #[error("reading image data failed: {0}")]
    Source(String),
    /// The data grew past `limit` bytes; `what` names the limit.
    #[error("image data exceeds {what} ({limit} bytes)")]
    TooLarge {
        /// Which limit (image size cap, storage quota).
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// The store failed.
    #[error("storing image data failed")]
    Store(#[source] StoreError),
}

struct HashThread {
    tx: mpsc::Sender<Bytes>,
    task: tokio::task::JoinHandle<String>,
}

fn spawn_hasher<D: Digest + Send + 'static>() -> HashThread {
    let (tx, mut rx) = mpsc::channel::<Bytes>(HASH_DEPTH);
    let task = tokio::task::spawn_blocking(move || {
        let mut d = D::new();
        while let Some(chunk) = rx.blocking_recv() {
            d.update(&chunk);
        }
        hex::encode(d.finalize())
    });
    HashThread { tx, task }
}

/// Streams `source` into a new object of `store` for `image_id`, hashing it; fails
/// with [`TransferError::TooLarge`] as soon as more than `limit` bytes arrive.
/// Nothing is committed unless the whole source was read.
pub async fn receive<S, E>(
    store: &dyn ImageStore,
    image_id: &str,
    mut source: S,
    limit: u64,
    limit_name: &'static str,
) -> Result<Received, TransferError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut writer = store.writer(image_id).await.map_err(TransferError::Store)?;
    let md5 = spawn_hasher::<md5::Md5>();
    let sha = spawn_hasher::<sha2::Sha512>();
    let mut size: u64 = 0;
    let mut header = Vec::with_capacity(HEADER_LEN);
    let mut piece = bytes::BytesMut::with_capacity(PIECE);
    loop {
        let next = source.next().await;
        let done = next.is_none();
        if let Some(chunk) = next {
            let chunk = chunk.map_err(|e| TransferError::Source(e.to_string()))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(TransferError::TooLarge {
                    what: limit_name,
                    limit,
                });
            }
            if header.len() < HEADER_LEN {
                let take = (HEADER_LEN - header.len()).min(chunk.len());
                header.extend_from_slice(&chunk[..take]);
            }
            piece.extend_from_slice(&chunk);
        }
        if piece.len() >= PIECE || (done && !piece.is_empty()) {
            let out = std::mem::replace(&mut piece, bytes::BytesMut::with_capacity(PIECE)).freeze();
            // A hashing thread only stops when its channel closes, so sends cannot
            // fail while we hold the senders.
            let _ = md5.tx.send(out.clone()).await;
            let _ = sha.tx.send(out.clone()).await;
            writer.write(out).await.map_err(TransferError::Store)?;
        }
        if done {
            break;
        }
    }
    let location = writer.commit().await.map_err(TransferError::Store)?;
    drop(md5.tx);
    drop(sha.tx);
    let hashing_failed = |e: tokio::task::JoinError| {
        TransferError::Store(StoreError::Io {
            path: location.clone().into(),
            source: std::io::Error::other(format!("hashing thread failed: {e}")),
        })
    };
    let md5 = md5.task.await.map_err(hashing_failed)?;
    let sha512 = sha.task.await.map_err(hashing_failed)?;
    Ok(Received {
        size,
        md5,
        sha512,
        header,
        location,
    })
}

/// The virtual size of a disk image from its first bytes: qcow2's header field, or
/// the data size for `raw`; `None` when the format is unknown or the data does not
/// look like the declared format (accepted as is: rustack does not enforce formats).
pub fn virtual_size(disk_format: Option<&str>, header: &[u8], size: u64) -> Option<i64> {
    match disk_format {
        Some("qcow2") => {
            if header.len() >= 32 && header[..4] == *b"QFI\xfb" {
                let mut b = [0u8; 8];
                b.copy_from_slice(&header[24..32]);
                i64::try_from(u64::from_be_bytes(b)).ok()
            } else {
                None
            }
        }
        Some("raw") => i64::try_from(size).ok(),
        _ => None,
    }
}

/// Whether `image_id` has staged data (its `location` points into the staging store).
pub async fn staged_exists(svc: &ImageService, image_id: &str) -> bool {
    let Ok(Some(img)) = svc.store.image_get(image_id).await else {
        return false;
    };
    let Some(loc) = img.location else {
        return false;
    };
    svc.staging.reader(&loc, 0, Some(0)).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::FilesystemStore;

    #[test]
    fn reads_qcow2_virtual_size() {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[24..32].copy_from_slice(&(10u64 << 30).to_be_bytes());
        assert_eq!(virtual_size(Some("qcow2"), &h, 1234), Some(10 << 30));
        assert_eq!(virtual_size(Some("qcow2"), b"junk", 4), None);
        assert_eq!(virtual_size(Some("raw"), b"junk", 4), Some(4));
        assert_eq!(virtual_size(Some("vmdk"), b"junk", 4), None);
    }

    #[tokio::test]
    async fn receive_hashes_and_limits() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = FilesystemStore::new(dir.path()).expect("store");
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ];
        let r = receive(&store, "a", futures::stream::iter(chunks), 100, "cap")
            .await
            .expect("receive");
        assert_eq!(r.size, 11);
        assert_eq!(r.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert!(r.sha512.starts_with("309ecc489c12d6eb4cc40f50c902f2b4"));
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from(vec![0u8; 200]))];
        let e = receive(&store, "b", futures::stream::iter(chunks), 100, "cap")
            .await
            .expect_err("too large");
        assert!(matches!(e, TransferError::TooLarge { limit: 100, .. }));
        assert!(!dir.path().join("b").exists());
    }
}

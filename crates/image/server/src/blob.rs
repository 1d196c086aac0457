//! Where image data lives: the narrow [`ImageStore`] interface (write a new object
//! through a [`BlobWriter`], read a byte range as a stream, delete, clean up after a
//! crash) and its filesystem implementation, one file per image.
//!
//! Design constraints:
//! * Streaming only: writers take chunks and readers yield chunks through bounded
//!   channels, so memory does not grow with image size.
//! * Nothing partial is ever visible: a writer writes to a temporary file under
//!   `.incomplete/` and renames it into place on [`BlobWriter::commit`] after
//!   `fsync`. Dropping a writer without committing removes the temporary file; files
//!   a crash left behind are removed by [`ImageStore::cleanup_incomplete`] at start.
//! * File I/O runs on blocking threads, never on the async workers.
//! * The interface knows nothing of hashing, quotas or image status, so an object
//!   store (multipart upload) or Ceph RBD backend fits behind it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

/// Image data as a stream of chunks.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Chunks in flight between the request and a store thread (bounded memory).
const CHANNEL_DEPTH: usize = 8;
/// Bytes written between two background `fdatasync`s, so that writeback overlaps
/// the transfer instead of all happening at commit.
const SYNC_EVERY: u64 = 64 << 20;
/// Size of the chunks readers produce.
const READ_CHUNK: usize = 1024 * 1024;

/// Failures of an image store, with the object they concern.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("image data at {location} not found")]
    NotFound {
        /// The location asked for.
        location: String,
    },
    /// The location does not belong to this store.
    #[error("location {location} does not belong to this image store")]
    BadLocation {
        /// The location given.
        location: String,
    },
    /// The store's disk is full.
    #[error("image store is out of space writing {}", path.display())]
    Full {
        /// The file being written.
        path: PathBuf,
    },
    /// Any other I/O failure.
    #[error("image store I/O failed on {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    fn io(path: &Path, source: std::io::Error) -> StoreError {
        if source.raw_os_error() == Some(libc_enospc()) {
            return StoreError::Full {
                path: path.to_path_buf(),
            };
        }
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// ENOSPC on Linux (avoids a libc dependency for one constant).
const fn libc_enospc() -> i32 {
    28
}

/// A backend that keeps image data.
#[async_trait]
pub trait ImageStore: Send + Sync + 'static {
    /// Starts writing a new object for `image_id`. Nothing is visible until
    /// [`BlobWriter::commit`]; dropping the writer discards what was written.
    async fn writer(&self, image_id: &str) -> Result<Box<dyn BlobWriter>, StoreError>;
    /// Reads `len` bytes (to the end when `None`) from `offset` of the object at
    /// `location`.
    async fn reader(
        &self,
        location: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream, StoreError>;
    /// Deletes the object at `location` (absent objects are not an error).
    async fn delete(&self, location: &str) -> Result<(), StoreError>;
    /// Removes partial objects a crashed process left; returns how many.
    async fn cleanup_incomplete(&self) -> Result<usize, StoreError>;
}

/// An object being written.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends a chunk.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError>;
    /// Makes the data durable and visible; returns its location.
    async fn commit(self: Box<Self>) -> Result<String, StoreError>;
}

/// One file per image under a directory: `<root>/<image_id>`, location
/// `file://<root>/<image_id>` (Glance's filesystem store layout).
#[derive(Clone, Debug)]
pub struct FilesystemStore {
    root: PathBuf,
}

impl FilesystemStore {
    /// A store rooted at `root` (created with its `.incomplete/` if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<FilesystemStore, StoreError> {
        let root = root.into();
        let incomplete = root.join(".incomplete");
        std::fs::create_dir_all(&incomplete).map_err(|e| StoreError::io(&incomplete, e))?;
        Ok(FilesystemStore { root })
    }

    /// The directory holding the data.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The location of `image_id`'s data in this store.
    pub fn location_of(&self, image_id: &str) -> String {
        format!("file://{}", self.root.join(image_id).display())
    }

    fn path_of(&self, location: &str) -> Result<PathBuf, StoreError> {
        let bad = || StoreError::BadLocation {
            location: location.to_string(),
        };
        let path = PathBuf::from(location.strip_prefix("file://").ok_or_else(bad)?);
        match (path.parent(), path.file_name()) {
            (Some(dir), Some(name))
                if dir == self.root && !name.to_string_lossy().starts_with('.') =>
            {
                Ok(path)
            }
            _ => Err(bad()),
        }
    }
}

fn valid_object_name(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[async_trait]
impl ImageStore for FilesystemStore {
    async fn writer(&self, image_id: &str) -> Result<Box<dyn BlobWriter>, StoreError> {
        if !valid_object_name(image_id) {
            return Err(StoreError::BadLocation {
                location: image_id.to_string(),
            });
        }
        let temp = self
            .root
            .join(".incomplete")
            .join(format!("{image_id}.{}", uuid::Uuid::new_v4().simple()));
        let final_path = self.root.join(image_id);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| StoreError::io(&temp, e))?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let thread_path = temp.clone();
        let flush_handle = file.try_clone().map_err(|e| StoreError::io(&temp, e))?;
        let task = tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            // A helper thread starts writeback of what is written so far while the
            // transfer goes on, so that commit's fsync only waits for the tail.
            let (kick, kicks) = std::sync::mpsc::channel::<()>();
            let flusher = std::thread::spawn(move || {
                while kicks.recv().is_ok() {
                    while kicks.try_recv().is_ok() {}
                    let _ = flush_handle.sync_data();
                }
            });
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            let mut since_sync: u64 = 0;
            let result = (|| {
                while let Some(chunk) = rx.blocking_recv() {
                    out.write_all(&chunk)
                        .map_err(|e| StoreError::io(&thread_path, e))?;
                    since_sync += chunk.len() as u64;
                    if since_sync >= SYNC_EVERY {
                        since_sync = 0;
                        let _ = out.flush();
                        let _ = kick.send(());
                    }
                }
                Ok(())
            })();
            drop(kick);
            let _ = flusher.join();
            result?;
            let file = out
                .into_inner()
                .map_err(|e| StoreError::io(&thread_path, e.into_error()))?;
            file.sync_all().map_err(|e| StoreError::io(&thread_path, e))
        });
        Ok(Box::new(FsWriter {
            tx: Some(tx),
            task: Some(task),
            temp,
            final_path,
            committed: false,
        }))
    }

    async fn reader(
        &self,
        location: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<ByteStream, StoreError> {
        let path = self.path_of(location)?;
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    location: location.to_string(),
                })
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| StoreError::io(&path, e))?;
        }
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::task::spawn_blocking(move || {
            let mut left = len.unwrap_or(u64::MAX);
            while left > 0 {
                let want = usize::try_from(left.min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
                // read_to_end fills the spare capacity without zeroing it first.
                let mut buf = Vec::with_capacity(want);
                match (&mut file).take(want as u64).read_to_end(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        left = left.saturating_sub(n as u64);
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            // The client went away.
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })))
    }

    async fn delete(&self, location: &str) -> Result<(), StoreError> {
        let path = self.path_of(location)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    async fn cleanup_incomplete(&self) -> Result<usize, StoreError> {
        let dir = self.root.join(".incomplete");
        let mut n = 0;
        let entries = std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            n += 1;
        }
        Ok(n)
    }
}

struct FsWriter {
    tx: Option<mpsc::Sender<Bytes>>,
    task: Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
    temp: PathBuf,
    final_path: PathBuf,
    committed: bool,
}

impl FsWriter {
    async fn join(&mut self) -> Result<(), StoreError> {
        self.tx = None;
        match self.task.take() {
            Some(task) => match task.await {
                Ok(r) => r,
                Err(e) => Err(StoreError::Io {
                    path: self.temp.clone(),
                    source: std::io::Error::other(e.to_string()),
                }),
            },
            None => Ok(()),
        }
    }
}

#[async_trait]
impl BlobWriter for FsWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        let sent = match &self.tx {
            Some(tx) => tx.send(chunk).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer thread stopped: report its error.
        self.join().await?;
        Err(StoreError::Io {
            path: self.temp.clone(),
            source: std::io::Error::other("image store writer stopped"),
        })
    }

    async fn commit(mut self: Box<Self>) -> Result<String, StoreError> {
        self.join().await?;
        tokio::fs::rename(&self.temp, &self.final_path)
            .await
            .map_err(|e| StoreError::io(&self.final_path, e))?;
        self.committed = true;
        Ok(format!("file://{}", self.final_path.display()))
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if !self.committed {
            // Closing the channel stops the thread; the file may still be open there,
            // which does not prevent unlinking it on Linux.
            self.tx = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    async fn read_all(s: &FilesystemStore, loc: &str, off: u64, len: Option<u64>) -> Vec<u8> {
        let mut st = s.reader(loc, off, len).await.expect("reader");
        let mut out = vec![];
        while let Some(c) = st.next().await {
            out.extend_from_slice(&c.expect("chunk"));
        }
        out
    }

    #[tokio::test]
    async fn write_commit_read_delete() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = FilesystemStore::new(dir.path().join("images")).expect("store");
        let mut w = s.writer("abc").await.expect("writer");
        w.write(Bytes::from_static(b"hello ")).await.expect("w");
        w.write(Bytes::from_static(b"world")).await.expect("w");
        let loc = w.commit().await.expect("commit");
        assert_eq!(loc, s.location_of("abc"));
        assert_eq!(read_all(&s, &loc, 0, None).await, b"hello world");
        assert_eq!(read_all(&s, &loc, 6, Some(3)).await, b"wor");
        s.delete(&loc).await.expect("delete");
        s.delete(&loc).await.expect("delete is idempotent");
        assert!(matches!(
            s.reader(&loc, 0, None).await,
            Err(StoreError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = FilesystemStore::new(dir.path()).expect("store");
        let mut w = s.writer("abc").await.expect("writer");
        w.write(Bytes::from_static(b"partial")).await.expect("w");
        drop(w);
        assert!(!dir.path().join("abc").exists());
        let left = std::fs::read_dir(dir.path().join(".incomplete"))
            .expect("dir")
            .count();
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn cleanup_removes_crash_leftovers_and_locations_are_checked() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = FilesystemStore::new(dir.path()).expect("store");
        std::fs::write(dir.path().join(".incomplete/x.123"), b"junk").expect("write");
        assert_eq!(s.cleanup_incomplete().await.expect("cleanup"), 1);
        assert!(matches!(
            s.delete("file:///etc/passwd").await,
            Err(StoreError::BadLocation { .. })
        ));
        assert!(s.writer("../evil").await.is_err());
    }
}

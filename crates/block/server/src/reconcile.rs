//! The block storage reconciler: at start (and then periodically) it moves volumes and
//! snapshots left in a transitional status by a crash or a failed dependency to a
//! truthful state, Cinder-like:
//!
//! - `creating` -> `error` (the create did not finish; the user deletes it);
//! - `deleting` -> the delete is finished (data, then rows; the key stays when no
//!   user token is at hand, logged);
//! - `extending` -> the size the backend reports, status from the attachments;
//! - `attaching` -> its attachments that never completed are removed; `in-use` if an
//!   attachment is attached, else `available`;
//! - `detaching` -> rolled back to `in-use`;
//! - `reserved` older than `reserved_timeout_secs` with no connected attachment ->
//!   reservations removed, `available`;
//! - `uploading`, `retyping`, `downloading` -> the status before the action;
//!   `reverting` -> `error` (the data may be half reverted);
//! - snapshots `creating` -> `error`, `deleting` -> finished;
//! - `backing-up` volumes -> the status before; `restoring-backup` ->
//!   `error_restoring`; backups `creating` -> `error`, `restoring` -> `available`,
//!   `deleting` -> finished.
//!
//! At start only, it also calls `VolumeBackend::cleanup()`, removes backend volumes
//! that have no row (`VolumeBackend::list`), and removes attachments whose server the
//! Compute API answers 404 for (a crash between a server's delete and its detach),
//! settling the volume's status from the attachments left. At start every transitional row is
//! handled (nothing is in flight then); later only rows older than
//! `stuck_timeout_secs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustack_block_api::Location;

use crate::error::BResult;
use crate::model::{now_secs, Attachment, Backup, Snapshot, Volume};
use crate::ops;
use crate::store::Kind;
use crate::BlockService;

/// What one pass changed (for logs and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `(volume id, old status, new status or "deleted")`.
    pub volumes: Vec<(String, String, String)>,
    /// `(snapshot id, old status, new status or "deleted")`.
    pub snapshots: Vec<(String, String, String)>,
    /// `(backup id, old status, new status or "deleted")`.
    pub backups: Vec<(String, String, String)>,
    /// Backend volumes removed for having no row.
    pub orphans: Vec<String>,
    /// Attachments removed because their server is gone.
    pub attachments: Vec<String>,
}

/// Runs the reconciler now and then every `reconcile_interval_secs` until `shutdown`.
pub fn spawn(svc: Arc<BlockService>, shutdown: rustack_runtime::Shutdown) {
    tokio::spawn(async move {
        match run_once(&svc, true).await {
            Ok(r) if r != Report::default() => {
                tracing::info!(report = ?r, "block storage reconciled at start")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.error, "block storage reconciler failed at start"),
        }
        let interval = Duration::from_secs(svc.cfg.reconcile_interval_secs.max(1));
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(interval) => {
                    let _ = ops::heartbeat(&svc).await;
                    match run_once(&svc, false).await {
                        Ok(r) if r != Report::default() => tracing::info!(report = ?r, "block storage reconciled"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e.error, "block storage reconciler failed"),
                    }
                }
            }
        }
    });
}

fn status_from_attachments(atts: &[Attachment]) -> (&'static str, &'static str) {
    if atts.iter().any(|a| a.attach_status == "attached") {
        ("in-use", "attached")
    } else {
        ("available", "detached")
    }
}

/// One reconciler pass; `at_start` handles every transitional row and also cleans the
/// backend.
pub async fn run_once(svc: &Arc<BlockService>, at_start: bool) -> BResult<Report> {
    let mut report = Report::default();
    let now = now_secs();
    let stuck = i64::try_from(svc.cfg.stuck_timeout_secs).unwrap_or(i64::MAX);
    let reserved_timeout = i64::try_from(svc.cfg.reserved_timeout_secs).unwrap_or(i64::MAX);
    if at_start {
        if let Err(e) = svc.backend.cleanup().await {
            tracing::warn!(error = %e, "backend cleanup failed");
        }
    }
    let vols: Vec<Volume> = svc.store.list(Kind::Volume, None).await?;
    for v in &vols {
        let old_enough = at_start || now - v.status_changed >= stuck;
        let atts = ops::attachments_of(svc, &v.id).await?;
        let new_status: Option<String> = match v.status.as_str() {
            "creating" if old_enough => Some("error".into()),
            "deleting" if old_enough => match ops::delete_work(svc, None, &v.id).await {
                Ok(()) => {
                    report
                        .volumes
                        .push((v.id.clone(), v.status.clone(), "deleted".into()));
                    None
                }
                Err(_) => Some("error_deleting".into()),
            },
            "extending" if old_enough => {
                let mut size = v.size;
                if let Some(loc) = &v.location {
                    if let Ok((virt, _)) = svc.backend.usage(loc).await {
                        size = virt.div_ceil(1 << 30).max(v.size);
                    }
                }
                let (st, _) = status_from_attachments(&atts);
                let _ = ops::set_volume_status(svc, &v.id, |x| x.size = size).await?;
                Some(st.into())
            }
            "attaching" if old_enough => {
                // The attach never completed: its pending attachments go (their client,
                // Nova, undoes its side at its own restart); the attached ones stay.
                for a in atts.iter().filter(|a| a.attach_status != "attached") {
                    svc.store.delete(Kind::Attachment, &a.id).await?;
                }
                Some(status_from_attachments(&atts).0.into())
            }
            "detaching" if old_enough => Some(status_from_attachments(&atts).0.into()),
            "reserved" => {
                let connected = atts.iter().any(|a| a.connector.is_some());
                let newest = atts.iter().map(|a| a.created).max().unwrap_or(0);
                if !connected && now - newest >= reserved_timeout {
                    for a in &atts {
                        svc.store.delete(Kind::Attachment, &a.id).await?;
                    }
                    Some("available".into())
                } else {
                    None
                }
            }
            "uploading" | "retyping" | "downloading" if old_enough => Some(
                v.previous_status
                    .clone()
                    .unwrap_or_else(|| status_from_attachments(&atts).0.into()),
            ),
            "reverting" if old_enough => Some("error".into()),
            "backing-up" if old_enough => Some(
                v.previous_status
                    .clone()
                    .unwrap_or_else(|| status_from_attachments(&atts).0.into()),
            ),
            "restoring-backup" if old_enough => Some("error_restoring".into()),
            _ => None,
        };
        if let Some(st) = new_status {
            let attach = status_from_attachments(&atts).1;
            ops::set_volume_status(svc, &v.id, |x| {
                x.status = st.clone();
                if st == "available" || st == "in-use" {
                    x.attach_status = attach.into();
                }
            })
            .await?;
            report.volumes.push((v.id.clone(), v.status.clone(), st));
        }
    }
    let snaps: Vec<Snapshot> = svc.store.list(Kind::Snapshot, None).await?;
    for s in &snaps {
        let old_enough = at_start || now - s.status_changed >= stuck;
        if !old_enough {
            continue;
        }
        match s.status.as_str() {
            "creating" => {
                ops::set_snapshot_status(svc, &s.id, |x| x.status = "error".into()).await?;
                report
                    .snapshots
                    .push((s.id.clone(), s.status.clone(), "error".into()));
            }
            "deleting" => {
                let st = match ops::snapshot_delete_work(svc, None, &s.id).await {
                    Ok(()) => "deleted",
                    Err(_) => {
                        ops::set_snapshot_status(svc, &s.id, |x| {
                            x.status = "error_deleting".into()
                        })
                        .await?;
                        "error_deleting"
                    }
                };
                report
                    .snapshots
                    .push((s.id.clone(), s.status.clone(), st.into()));
            }
            _ => {}
        }
    }
    let backups: Vec<Backup> = svc.store.list(Kind::Backup, None).await?;
    for b in &backups {
        let old_enough = at_start || now - b.status_changed >= stuck;
        if !old_enough {
            continue;
        }
        let new = match b.status.as_str() {
            "creating" => Some("error"),
            "restoring" => Some("available"),
            "deleting" => match crate::api::backup_delete_work(svc, &b.id).await {
                Ok(()) => {
                    report
                        .backups
                        .push((b.id.clone(), b.status.clone(), "deleted".into()));
                    None
                }
                Err(_) => Some("error_deleting"),
            },
            _ => None,
        };
        if let Some(st) = new {
            let mut nb = b.clone();
            nb.status = st.into();
            nb.status_changed = now_secs();
            svc.store
                .put(Kind::Backup, &nb.id, &nb.project_id, &nb)
                .await?;
            report
                .backups
                .push((b.id.clone(), b.status.clone(), st.into()));
        }
    }
    if at_start {
        report.orphans = remove_orphans(svc).await?;
        report.attachments = remove_dead_attachments(svc).await?;
    }
    Ok(report)
}

/// Removes attachments whose server Compute answers 404 for; each volume that lost
/// one gets its status from the attachments left. Without a compute client, or when
/// Compute cannot answer, nothing is removed.
async fn remove_dead_attachments(svc: &BlockService) -> BResult<Vec<String>> {
    let Some(compute) = &svc.compute else {
        return Ok(vec![]);
    };
    let atts: Vec<Attachment> = svc.store.list(Kind::Attachment, None).await?;
    let mut known: std::collections::HashMap<String, bool> = Default::default();
    let mut removed = vec![];
    let mut volumes = std::collections::BTreeSet::new();
    for a in atts {
        let Some(server) = a.instance_uuid.clone().filter(|s| !s.is_empty()) else {
            continue;
        };
        let exists = match known.get(&server) {
            Some(e) => *e,
            None => match compute.server_exists(&server).await {
                Ok(e) => {
                    known.insert(server.clone(), e);
                    e
                }
                Err(e) => {
                    tracing::warn!(instance.id = %server, error = %e, "checking an attachment's server failed; kept");
                    continue;
                }
            },
        };
        if exists {
            continue;
        }
        svc.store.delete(Kind::Attachment, &a.id).await?;
        tracing::warn!(attachment.id = %a.id, volume.id = %a.volume_id, instance.id = %server, "removed an attachment whose server is gone");
        volumes.insert(a.volume_id.clone());
        removed.push(a.id);
    }
    for vid in volumes {
        let left = ops::attachments_of(svc, &vid).await?;
        let (st, attach) = status_from_attachments(&left);
        let Some(v) = svc.store.get::<Volume>(Kind::Volume, &vid).await? else {
            continue;
        };
        // Only a status the attachments decide; `error`, `deleting`... stay.
        if matches!(
            v.status.as_str(),
            "in-use" | "available" | "attaching" | "detaching" | "reserved"
        ) {
            ops::set_volume_status(svc, &vid, |x| {
                x.status = st.into();
                x.attach_status = attach.into();
            })
            .await?;
        }
    }
    Ok(removed)
}

/// Removes backend volumes with no row (a crash between the backend's create and the
/// row's delete).
async fn remove_orphans(svc: &BlockService) -> BResult<Vec<String>> {
    let ids = match svc.backend.list().await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "listing backend volumes failed");
            return Ok(vec![]);
        }
    };
    let vols: Vec<Volume> = svc.store.list(Kind::Volume, None).await?;
    // The file backend's directory: configured, or learnt from any stored location.
    let dir: Option<PathBuf> = svc.cfg.volumes_dir.clone().or_else(|| {
        vols.iter().find_map(|v| match &v.location {
            Some(Location::File { path, .. }) => path.parent().map(PathBuf::from),
            _ => None,
        })
    });
    let mut removed = vec![];
    for id in ids {
        if vols.iter().any(|v| v.id == id) {
            continue;
        }
        // Without a known directory the orphan's location cannot be named safely.
        let Some(d) = &dir else {
            tracing::warn!(volume.id = %id, "backend volume without a row left alone: volumes_dir unknown");
            continue;
        };
        let loc = Location::File {
            path: d.join(format!("{id}.qcow2")),
            format: "qcow2".into(),
        };
        match svc.backend.delete(&loc).await {
            Ok(()) => removed.push(id),
            Err(e) => {
                tracing::warn!(volume.id = %id, error = %e, "removing an orphan backend volume failed")
            }
        }
    }
    Ok(removed)
}

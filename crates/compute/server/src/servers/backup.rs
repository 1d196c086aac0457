//! `createBackup` (Nova's `os-create-backup`): a snapshot image with
//! `image_type = backup` and the `backup_type`, then rotation — the oldest backups of
//! that type of the server beyond `rotation` are deleted.
//!
//! The snapshot itself is `createImage`'s (same states, guards and upload; the
//! instance action is recorded as `createImage`). Deviation: rotation runs when the
//! backup is requested (counting the new, still uploading image) instead of after its
//! upload, so a failed upload leaves one backup fewer than `rotation`. A volume-backed
//! server is 400 "Backup is not supported for volume-backed instances." With
//! `rotation = 0` the answer has no image reference and every backup of the type is
//! deleted, the new one included (as Nova's rotation does). Backups carry one extra
//! property, `rustack_backup_time` (the request time in nanoseconds), because the
//! Image API's `created_at` has whole seconds and backups made within one second must
//! still rotate oldest first.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustack_common::Error;
use rustack_compute_api::server::ServerAction;
use serde_json::Value;

use super::app::{ActionOutcome, Caller};
use super::Servers;

/// The backups among `images` of server `uuid` with `backup_type`, newest first.
pub fn backups_newest_first<'a>(
    images: &'a [Value],
    uuid: &str,
    backup_type: &str,
) -> Vec<&'a Value> {
    let mut b: Vec<&Value> = images
        .iter()
        .filter(|i| {
            i["instance_uuid"] == uuid
                && i["image_type"] == "backup"
                && i["backup_type"] == backup_type
        })
        .collect();
    // `created_at` has whole seconds: the precise request time breaks ties.
    b.sort_by(|x, y| {
        let k = |v: &Value| {
            (
                v["created_at"].as_str().unwrap_or_default().to_string(),
                v[BACKUP_TIME].as_str().unwrap_or_default().to_string(),
                v["id"].as_str().unwrap_or_default().to_string(),
            )
        };
        k(y).cmp(&k(x))
    });
    b
}

/// Image property with the backup's request time (nanoseconds), which orders backups
/// made within one second.
pub const BACKUP_TIME: &str = "rustack_backup_time";

impl Servers {
    /// `createBackup`.
    pub(crate) async fn create_backup(
        self: &Arc<Self>,
        c: &Caller,
        uuid: &str,
        name: &str,
        backup_type: &str,
        rotation: u32,
        metadata: &BTreeMap<String, String>,
    ) -> Result<ActionOutcome, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-create-backup")
            .await?;
        if i.image_ref.is_none() {
            return Err(Error::bad_request(
                "Backup is not supported for volume-backed instances.",
            ));
        }
        let mut md = metadata.clone();
        md.insert("image_type".into(), "backup".into());
        md.insert("backup_type".into(), backup_type.into());
        md.insert(
            BACKUP_TIME.into(),
            chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.9f")
                .to_string(),
        );
        // The snapshot is createImage's (its own future: `action` is recursive here).
        let out = Box::pin(self.action(
            c,
            &i.uuid,
            ServerAction::CreateImage {
                name: name.to_string(),
                metadata: md,
            },
        ))
        .await?;
        let token = self.service_token().await?;
        let new_id = match &out {
            ActionOutcome::Image(id) => Some(id.clone()),
            _ => None,
        };
        let images = self.glance.list(&token).await?;
        // The new backup is the newest whatever the clocks say.
        let mut ordered: Vec<&Value> = images
            .iter()
            .filter(|v| new_id.is_some() && v["id"].as_str() == new_id.as_deref())
            .collect();
        ordered.extend(
            backups_newest_first(&images, &i.uuid, backup_type)
                .into_iter()
                .filter(|v| v["id"].as_str() != new_id.as_deref()),
        );
        for old in ordered.into_iter().skip(rotation as usize) {
            if let Some(id) = old["id"].as_str() {
                tracing::info!(instance.id = %i.uuid, image.id = id, "backup rotation: deleting an old backup");
                if let Err(e) = self.glance.delete(&token, id).await {
                    tracing::warn!(instance.id = %i.uuid, image.id = id, error = %e, "backup rotation could not delete an image");
                }
            }
        }
        Ok(if rotation > 0 {
            out
        } else {
            ActionOutcome::Accepted
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rotation_order() {
        let img = |id: &str, t: &str, server: &str, kind: &str, created: &str| {
            json!({"id": id, "image_type": t, "instance_uuid": server,
                   "backup_type": kind, "created_at": created})
        };
        let images = vec![
            img("a", "backup", "s", "daily", "2026-01-01T00:00:00Z"),
            img("b", "backup", "s", "daily", "2026-01-03T00:00:00Z"),
            img("c", "backup", "s", "weekly", "2026-01-04T00:00:00Z"),
            img("d", "snapshot", "s", "daily", "2026-01-05T00:00:00Z"),
            img("e", "backup", "other", "daily", "2026-01-06T00:00:00Z"),
            img("f", "backup", "s", "daily", "2026-01-02T00:00:00Z"),
        ];
        let mut images = images;
        // Same second: the precise time decides.
        let mut g = img("g", "backup", "s", "daily", "2026-01-03T00:00:00Z");
        g[BACKUP_TIME] = json!("2026-01-03T00:00:00.000000002");
        let mut h = img("h", "backup", "s", "daily", "2026-01-03T00:00:00Z");
        h[BACKUP_TIME] = json!("2026-01-03T00:00:00.000000001");
        images.push(h);
        images.push(g);
        let ids: Vec<&str> = backups_newest_first(&images, "s", "daily")
            .into_iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["g", "h", "b", "f", "a"]);
    }
}

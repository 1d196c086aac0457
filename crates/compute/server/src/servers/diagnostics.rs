//! Server diagnostics (`GET /servers/{id}/diagnostics`, admin) and the server password
//! (`GET`/`DELETE /servers/{id}/os-server-password`).
//!
//! Diagnostics come from the host's driver ([`rustack_virt::ComputeDriver::diagnostics`]):
//! before 2.48 as Nova's libvirt driver words its free-form dict (`cpu0_time`,
//! `memory`, `vda_read`, `<tap>_rx`...), from 2.48 in the standardized shape. The
//! `driver` field says `libvirt`: Tempest's schema accepts only Nova's driver names,
//! and rustack's QEMU driver is what Nova's libvirt driver would report. A server
//! without a host is 409 "Instance X is not ready" as Nova's `check_instance_host`.
//!
//! The password is what the guest posted to the metadata service
//! (`POST /openstack/latest/password`, stored by [`Servers::store_password`]); `DELETE`
//! clears it so the guest may post a new one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use rustack_virt::Diagnostics;
use serde_json::{json, Map, Value};

use super::app::Caller;
use super::Servers;
use crate::api::{AppState, Ctx};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/servers/{id}/diagnostics", get(diagnostics))
        .route(
            "/v2.1/servers/{id}/os-server-password",
            get(password_show).delete(password_clear),
        )
}

fn servers(st: &AppState) -> Result<std::sync::Arc<Servers>, Error> {
    st.compute
        .servers()
        .ok_or_else(|| Error::unavailable("This compute API runs without the servers service."))
}

fn caller(ctx: &Ctx) -> Caller {
    Caller {
        auth: ctx.auth.clone(),
        minor: ctx.version.minor,
        request_id: ctx.request_id.clone(),
        token: ctx.token.clone(),
    }
}

/// The 2.48 standardized body.
pub fn standard_view(d: &Diagnostics) -> Value {
    json!({
        "state": d.state.map(|s| s.as_str()).unwrap_or("pending"),
        "driver": "libvirt",
        "hypervisor": d.hypervisor,
        "hypervisor_os": Value::Null,
        "uptime": d.uptime_secs,
        "config_drive": d.config_drive,
        "num_cpus": d.cpus.len(),
        "num_nics": d.nics.len(),
        "num_disks": d.disks.len(),
        "memory_details": {"maximum": d.memory_max_mb, "used": d.memory_used_mb},
        "cpu_details": d.cpus.iter().map(|c| json!({
            "id": c.id, "time": c.time_ns, "utilisation": c.utilisation,
        })).collect::<Vec<_>>(),
        "nic_details": d.nics.iter().map(|n| json!({
            "mac_address": n.mac_address,
            "rx_octets": n.rx_octets, "rx_errors": n.rx_errors, "rx_drop": n.rx_drop,
            "rx_packets": n.rx_packets, "rx_rate": Value::Null,
            "tx_octets": n.tx_octets, "tx_errors": n.tx_errors, "tx_drop": n.tx_drop,
            "tx_packets": n.tx_packets, "tx_rate": Value::Null,
        })).collect::<Vec<_>>(),
        "disk_details": d.disks.iter().map(|k| json!({
            "read_bytes": k.read_bytes, "read_requests": k.read_requests,
            "write_bytes": k.write_bytes, "write_requests": k.write_requests,
            "errors_count": k.errors_count,
        })).collect::<Vec<_>>(),
    })
}

/// The pre-2.48 free-form body, keyed as Nova's libvirt driver keys it (only the
/// figures that are known).
pub fn legacy_view(d: &Diagnostics) -> Value {
    let mut m = Map::new();
    let mut put = |k: String, v: Option<u64>| {
        if let Some(v) = v {
            m.insert(k, json!(v));
        }
    };
    for c in &d.cpus {
        put(format!("cpu{}_time", c.id), c.time_ns);
    }
    // libvirt reports memory in KiB.
    put("memory".into(), d.memory_max_mb.map(|m| m * 1024));
    put("memory-actual".into(), d.memory_max_mb.map(|m| m * 1024));
    put("memory-rss".into(), d.memory_used_mb.map(|m| m * 1024));
    for k in &d.disks {
        put(format!("{}_read", k.device), k.read_bytes);
        put(format!("{}_read_req", k.device), k.read_requests);
        put(format!("{}_write", k.device), k.write_bytes);
        put(format!("{}_write_req", k.device), k.write_requests);
        put(format!("{}_errors", k.device), k.errors_count);
    }
    for n in &d.nics {
        put(format!("{}_rx", n.device), n.rx_octets);
        put(format!("{}_rx_drop", n.device), n.rx_drop);
        put(format!("{}_rx_errors", n.device), n.rx_errors);
        put(format!("{}_rx_packets", n.device), n.rx_packets);
        put(format!("{}_tx", n.device), n.tx_octets);
        put(format!("{}_tx_drop", n.device), n.tx_drop);
        put(format!("{}_tx_errors", n.device), n.tx_errors);
        put(format!("{}_tx_packets", n.device), n.tx_packets);
    }
    Value::Object(m)
}

impl Servers {
    /// The driver's diagnostics of a server (admin by default).
    pub async fn diagnostics(&self, c: &Caller, uuid: &str) -> Result<Diagnostics, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-server-diagnostics")
            .await?;
        let Some(host) = i.host.clone() else {
            return Err(Error::conflict(format!("Instance {} is not ready", i.uuid)));
        };
        let d = self.driver_for(&host)?;
        match d.diagnostics(&i.uuid).await {
            Ok(x) => Ok(x),
            Err(rustack_virt::VirtError::Unsupported(_)) => Err(Error::not_implemented(
                "The requested functionality is not supported.",
            )),
            Err(e) if e.is_not_found() => {
                Err(Error::conflict(format!("Instance {} is not ready", i.uuid)))
            }
            Err(e) => Err(Error::internal(format!("diagnostics of {}: {e}", i.uuid))),
        }
    }

    /// The password the guest posted (empty when none).
    pub async fn password_show(&self, c: &Caller, uuid: &str) -> Result<String, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-server-password:show")
            .await?;
        Ok(i.password.unwrap_or_default())
    }

    /// Forgets the password (the guest may post a new one).
    pub async fn password_clear(&self, c: &Caller, uuid: &str) -> Result<(), Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-server-password:clear")
            .await?;
        self.modify(&i.uuid, |x| {
            x.password = None;
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Stores the password a guest posted to the metadata service.
    pub async fn store_password(&self, uuid: &str, password: &str) -> Result<(), Error> {
        self.modify(uuid, |x| {
            x.password = Some(password.to_string());
            Ok(())
        })
        .await
        .map(|_| ())
    }
}

async fn diagnostics(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let d = servers(&st)?.diagnostics(&caller(&ctx), &id).await?;
    let body = if ctx.version.at_least(48) {
        standard_view(&d)
    } else {
        legacy_view(&d)
    };
    Ok(Json(body).into_response())
}

async fn password_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = servers(&st)?.password_show(&caller(&ctx), &id).await?;
    Ok(Json(json!({ "password": p })).into_response())
}

async fn password_clear(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    servers(&st)?.password_clear(&caller(&ctx), &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rustack_virt::{CpuDiagnostics, DiskDiagnostics, NicDiagnostics, PowerState};

    fn sample() -> Diagnostics {
        Diagnostics {
            state: Some(PowerState::Running),
            hypervisor: Some("qemu".into()),
            uptime_secs: Some(42),
            config_drive: true,
            memory_max_mb: Some(512),
            memory_used_mb: None,
            cpus: vec![CpuDiagnostics {
                id: 0,
                time_ns: Some(1_000),
                utilisation: None,
            }],
            nics: vec![NicDiagnostics {
                mac_address: "fa:16:3e:00:00:01".into(),
                device: "tapabc".into(),
                rx_octets: Some(10),
                tx_octets: Some(20),
                ..Default::default()
            }],
            disks: vec![DiskDiagnostics {
                device: "vda".into(),
                read_bytes: Some(4096),
                ..Default::default()
            }],
        }
    }

    #[test]
    fn standardized_shape() {
        let v = standard_view(&sample());
        assert_eq!(v["state"], "running");
        assert_eq!(v["driver"], "libvirt");
        assert_eq!(v["hypervisor"], "qemu");
        assert_eq!(v["uptime"], 42);
        assert_eq!(v["num_cpus"], 1);
        assert_eq!(v["num_nics"], 1);
        assert_eq!(v["num_disks"], 1);
        assert_eq!(v["memory_details"], json!({"maximum": 512, "used": null}));
        assert_eq!(
            v["cpu_details"][0],
            json!({"id": 0, "time": 1000, "utilisation": null})
        );
        assert_eq!(v["nic_details"][0]["rx_octets"], 10);
        assert_eq!(v["nic_details"][0]["rx_rate"], Value::Null);
        assert_eq!(v["nic_details"][0]["rx_errors"], Value::Null);
        assert_eq!(v["disk_details"][0]["read_bytes"], 4096);
        assert_eq!(v.as_object().unwrap().len(), 13);
    }

    #[test]
    fn legacy_keys_as_libvirt() {
        let v = legacy_view(&sample());
        assert_eq!(v["cpu0_time"], 1000);
        assert_eq!(v["memory"], 512 * 1024);
        assert_eq!(v["vda_read"], 4096);
        assert_eq!(v["tapabc_rx"], 10);
        assert_eq!(v["tapabc_tx"], 20);
        // Unknown figures are left out, not invented.
        assert!(v.get("memory-rss").is_none());
        assert!(v.get("vda_write").is_none());
    }
}

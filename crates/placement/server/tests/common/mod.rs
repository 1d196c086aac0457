//! In-process harness: the Placement API router on a fresh database (SQLite, or
//! PostgreSQL with `RUSTACK_TEST_POSTGRES_URL`), with a fake token validator.

#![allow(dead_code)]

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use rustack_api_common::{AuthContext, TokenValidator};
use rustack_common::Error;
use rustack_placement_server::{PlacementConfig, PlacementService};
use serde_json::Value;
use tower::ServiceExt;

/// Tokens: `admin` (admin of `padmin`), `service` (service role in `service`),
/// `member` (member+reader of `p1`), `reader` (reader of `p1`).
pub struct Personas;

#[async_trait]
impl TokenValidator for Personas {
    async fn validate(&self, token: &str) -> Result<AuthContext, Error> {
        let (user, project, roles): (&str, &str, &[&str]) = match token {
            "admin" => ("admin", "padmin", &["admin", "member", "reader"]),
            "service" => ("nova", "service", &["service"]),
            "member" => ("alice", "p1", &["member", "reader"]),
            "reader" => ("alice-r", "p1", &["reader"]),
            _ => {
                return Err(Error::unauthenticated(
                    "The request you have made requires authentication.",
                ))
            }
        };
        Ok(AuthContext {
            user_id: user.into(),
            user_name: user.into(),
            user_domain_id: "default".into(),
            project_id: Some(project.into()),
            project_name: Some(project.into()),
            project_domain_id: Some("default".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..AuthContext::default()
        })
    }
}

pub struct Api {
    pub router: Router,
    pub svc: Arc<PlacementService>,
    pub dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

pub async fn api() -> Api {
    api_with(PlacementConfig::default()).await
}

pub async fn api_with(cfg: PlacementConfig) -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = rustack_db::fresh_test_url(dir.path(), "placement")
        .await
        .expect("url");
    let svc = PlacementService::open(cfg, &url, Arc::new(Personas))
        .await
        .expect("open");
    let router = rustack_placement_server::api::router(svc.clone());
    Api { router, svc, dir }
}

pub const LATEST: &str = "1.39";

impl Api {
    /// A request at microversion `ver` (None = no header) as `token`.
    pub async fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        ver: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("x-auth-token", t);
        }
        if let Some(v) = ver {
            b = b.header("openstack-api-version", format!("placement {v}"));
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&v).expect("json")))
                .expect("request"),
            None => b.body(Body::empty()).expect("request"),
        };
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// As admin at the latest microversion.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.req(method, path, Some("admin"), Some(LATEST), body)
            .await
    }

    /// Creates a provider (optionally under `parent`) and returns its uuid.
    pub async fn provider(&self, name: &str, parent: Option<&str>) -> String {
        let mut b = serde_json::json!({"name": name});
        if let Some(p) = parent {
            b["parent_provider_uuid"] = p.into();
        }
        let r = self.call("POST", "/resource_providers", Some(b)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["uuid"].as_str().expect("uuid").to_string()
    }

    /// Sets inventories `{rc: total}` on a provider.
    pub async fn inventory(&self, rp: &str, invs: &[(&str, i64)]) -> i64 {
        let gen = self
            .call("GET", &format!("/resource_providers/{rp}"), None)
            .await
            .body["generation"]
            .as_i64()
            .expect("gen");
        let m: serde_json::Map<String, Value> = invs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!({"total": v})))
            .collect();
        let r = self
            .call(
                "PUT",
                &format!("/resource_providers/{rp}/inventories"),
                Some(serde_json::json!({"resource_provider_generation": gen, "inventories": m})),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["resource_provider_generation"]
            .as_i64()
            .expect("gen")
    }

    /// PUTs allocations for a new consumer (latest microversion).
    pub async fn allocate(&self, consumer: &str, rp: &str, res: Value) -> Resp {
        self.call(
            "PUT",
            &format!("/allocations/{consumer}"),
            Some(serde_json::json!({
                "allocations": {rp: {"resources": res}},
                "project_id": "p1",
                "user_id": "u1",
                "consumer_generation": null,
                "consumer_type": "INSTANCE",
            })),
        )
        .await
    }
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The error code of a placement error body.
pub fn code(r: &Resp) -> &str {
    r.body["errors"][0]["code"].as_str().unwrap_or("")
}

//! In-process harness: the Compute API router on a fresh database, with a fake token
//! validator that knows a few personas.

#![allow(dead_code)]

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use axum::Router;
use http_body_util::BodyExt;
use rustack_api_common::{AuthContext, TokenValidator};
use rustack_common::Error;
use rustack_compute_server::{Compute, ComputeConfig};
use serde_json::Value;
use tower::ServiceExt;

/// Tokens: `admin` (project `padmin`), `alice` (member of `p1`), `alice-reader` (reader
/// of `p1`), `bob` (member of `p2`), `system` (system-scoped admin).
pub struct Personas;

#[async_trait]
impl TokenValidator for Personas {
    async fn validate(&self, token: &str) -> Result<AuthContext, Error> {
        let (user, project, roles): (&str, &str, &[&str]) = match token {
            "admin" => ("admin", "padmin", &["admin", "member", "reader"]),
            "alice" => ("alice", "p1", &["member", "reader"]),
            "alice2" => ("alice2", "p1", &["member", "reader"]),
            "alice-reader" => ("alice-r", "p1", &["reader"]),
            "bob" => ("bob", "p2", &["member", "reader"]),
            "system" => {
                return Ok(AuthContext {
                    user_id: "sys".into(),
                    user_name: "sys".into(),
                    user_domain_id: "default".into(),
                    system_scope: Some("all".into()),
                    roles: vec!["admin".into(), "member".into(), "reader".into()],
                    ..AuthContext::default()
                })
            }
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
    pub compute: Arc<Compute>,
    _dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub async fn api() -> Api {
    api_with(ComputeConfig::default()).await
}

pub async fn api_with(cfg: ComputeConfig) -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = rustack_db::fresh_test_url(dir.path(), "compute")
        .await
        .expect("url");
    let compute = Compute::open(cfg, &url).await.expect("open");
    let router = rustack_compute_server::api::router(compute.clone(), Arc::new(Personas));
    Api {
        router,
        compute,
        _dir: dir,
    }
}

impl Api {
    /// A request with optional token, body and extra headers.
    pub async fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "compute.test:8774");
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("json body")
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let r = self.req(method, path, token, body, &[]).await;
        (r.status, r.body)
    }
    /// A call at microversion `version`.
    pub async fn call_v(
        &self,
        version: &str,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let r = self
            .req(
                method,
                path,
                Some(token),
                body,
                &[("x-openstack-nova-api-version", version)],
            )
            .await;
        (r.status, r.body)
    }
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call("PUT", path, Some(token), Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("DELETE", path, Some(token), None).await
    }
}

/// The message of a Nova fault body under `key` (`itemNotFound`...).
pub fn fault<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]["message"].as_str().unwrap_or("")
}

//! In-process harness: the Networking API router on a fresh database, with a fake token
//! validator that knows a few personas.

#![allow(dead_code)]

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use rustack_api_common::{AuthContext, TokenValidator};
use rustack_common::Error;
use rustack_network_server::{Network, NetworkConfig};
use serde_json::Value;
use tower::ServiceExt;

/// Tokens: `admin` (project `padmin`), `alice` (member of `p1`), `alice-reader` (reader
/// of `p1`), `bob` (member of `p2`).
pub struct Personas;

#[async_trait]
impl TokenValidator for Personas {
    async fn validate(&self, token: &str) -> Result<AuthContext, Error> {
        let (user, project, roles): (&str, &str, &[&str]) = match token {
            "admin" => ("admin", "padmin", &["admin", "member", "reader"]),
            "alice" => ("alice", "p1", &["member", "reader"]),
            "alice-reader" => ("alice-r", "p1", &["reader"]),
            "bob" => ("bob", "p2", &["member", "reader"]),
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
    pub network: Arc<Network>,
    _dir: tempfile::TempDir,
}

pub async fn api() -> Api {
    api_with(NetworkConfig::default()).await
}

pub async fn api_with(cfg: NetworkConfig) -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = rustack_db::fresh_test_url(dir.path(), "network")
        .await
        .expect("url");
    let network = Arc::new(Network::open(cfg, &url).await.expect("open"));
    let router = rustack_network_server::api::router(network.clone(), Arc::new(Personas));
    Api {
        router,
        network,
        _dir: dir,
    }
}

impl Api {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "net.test:9696");
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
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
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("json body")
        };
        (status, v)
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
    /// Creates and returns a resource, asserting 201.
    pub async fn create(&self, coll: &str, key: &str, token: &str, body: Value) -> Value {
        let (st, v) = self
            .post(
                &format!("/v2.0/{coll}"),
                token,
                serde_json::json!({ key: body }),
            )
            .await;
        assert_eq!(st, 201, "create {coll}: {v}");
        v[key].clone()
    }
    pub async fn network(&self, token: &str, name: &str) -> String {
        self.create(
            "networks",
            "network",
            token,
            serde_json::json!({"name": name}),
        )
        .await["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }
    pub async fn subnet(&self, token: &str, net: &str, cidr: &str) -> Value {
        self.create(
            "subnets",
            "subnet",
            token,
            serde_json::json!({"network_id": net, "cidr": cidr, "ip_version": if cidr.contains(':') {6} else {4}}),
        )
        .await
    }
}

/// The `type` of a NeutronError body.
pub fn err_type(v: &Value) -> &str {
    v["NeutronError"]["type"].as_str().unwrap_or("")
}

/// The `message` of a NeutronError body.
pub fn err_msg(v: &Value) -> &str {
    v["NeutronError"]["message"].as_str().unwrap_or("")
}

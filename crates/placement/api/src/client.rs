//! A typed client for the Placement calls a compute service makes, as nova's
//! `SchedulerReportClient` does: registering its host as a resource provider with
//! inventories and traits, asking for allocation candidates, claiming them for a
//! consumer (an instance) and releasing the claim.
//!
//! Every request carries `OpenStack-API-Version: placement 1.39` ([`CLIENT_MICROVERSION`])
//! and the token set with [`PlacementClient::set_token`]. Failures come back as
//! [`ApiError`] with placement's status, error `code` and detail, so callers can tell a
//! lost race (`409`, [`codes::CONCURRENT_UPDATE`]) from a full host (`409`, other code).
//!
//! ```no_run
//! # async fn demo() -> Result<(), rustack_placement_api::client::ApiError> {
//! use std::collections::BTreeMap;
//! use rustack_placement_api::client::{CandidateQuery, PlacementClient};
//! use rustack_placement_api::Inventory;
//!
//! let client = PlacementClient::new("http://127.0.0.1:8778")?;
//! client.set_token("gAAAA...");
//! let host = "8d2b5ad8-4b5f-4b9f-9f35-4a1f5e0f3b10";
//! client.ensure_provider(host, "compute-1", None).await?;
//! client
//!     .set_inventories(host, BTreeMap::from([("VCPU".to_string(), Inventory::with_total(8))]))
//!     .await?;
//! let cands = client
//!     .allocation_candidates(&CandidateQuery::resources([("VCPU", 2)]).limit(10))
//!     .await?;
//! let instance = "5d1c8d0c-7a3c-4d43-9c8c-5a3c1e2a9b11";
//! if let Some(req) = cands.allocation_requests.first() {
//!     client.claim(instance, req, "project-id", "user-id").await?;
//! }
//! client.delete_allocations(instance).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::{
    codes, AllocationCandidates, AllocationRequest, ConsumerAllocations, Inventories, Inventory,
    ProviderAllocation, ResourceProvider,
};

/// The microversion every request asks for.
pub const CLIENT_MICROVERSION: &str = "1.39";

/// How many times generation conflicts on provider writes are retried.
const GENERATION_RETRIES: usize = 10;

/// A failed Placement call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("placement answered {status}: {detail}")]
pub struct ApiError {
    /// HTTP status (0 when the service could not be reached).
    pub status: u16,
    /// Placement's error code (`placement.concurrent_update`...), if any.
    pub code: Option<String>,
    /// Placement's detail message, or the transport failure.
    pub detail: String,
}

impl ApiError {
    fn transport(e: reqwest::Error) -> Self {
        ApiError {
            status: 0,
            code: None,
            detail: format!("the placement service is unreachable: {e}"),
        }
    }

    /// True for a `409` caused by a generation mismatch (retry after re-reading).
    pub fn is_concurrent_update(&self) -> bool {
        self.status == 409 && self.code.as_deref() == Some(codes::CONCURRENT_UPDATE)
    }

    /// True for `404`.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }
}

impl From<ApiError> for rustack_common::Error {
    fn from(e: ApiError) -> Self {
        use rustack_common::Error;
        match e.status {
            0 | 502..=504 => Error::unavailable(e.detail),
            400 => Error::bad_request(e.detail),
            403 => Error::forbidden(e.detail),
            404 => Error::not_found(e.detail),
            409 => Error::conflict(e.detail),
            _ => Error::internal(format!("placement: {} {}", e.status, e.detail)),
        }
    }
}

/// What to ask `GET /allocation_candidates` for (the unsuffixed request group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CandidateQuery {
    /// Amount per resource class.
    pub resources: BTreeMap<String, i64>,
    /// Traits every candidate must have (`!TRAIT` forbids one).
    pub required: Vec<String>,
    /// Aggregates (any of) the providers must be in.
    pub member_of: Vec<String>,
    /// Restrict to the tree of this provider.
    pub in_tree: Option<String>,
    /// Largest number of candidates returned.
    pub limit: Option<u32>,
}

impl CandidateQuery {
    /// A query for these resources.
    pub fn resources<'a>(r: impl IntoIterator<Item = (&'a str, i64)>) -> Self {
        CandidateQuery {
            resources: r.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            ..Default::default()
        }
    }
    /// Adds required traits.
    pub fn required<'a>(mut self, traits: impl IntoIterator<Item = &'a str>) -> Self {
        self.required.extend(traits.into_iter().map(String::from));
        self
    }
    /// Caps the number of candidates.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The query string (without `?`).
    pub fn to_query(&self) -> String {
        let mut q: Vec<(&str, String)> = Vec::new();
        let res: Vec<String> = self
            .resources
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        q.push(("resources", res.join(",")));
        if !self.required.is_empty() {
            q.push(("required", self.required.join(",")));
        }
        if !self.member_of.is_empty() {
            q.push(("member_of", format!("in:{}", self.member_of.join(","))));
        }
        if let Some(t) = &self.in_tree {
            q.push(("in_tree", t.clone()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        q.iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes a query value (keeps `A-Za-z0-9-._~:,!`).
fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:,!".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Usage totals (`GET /usages`, `GET /resource_providers/{uuid}/usages`).
pub type Usages = BTreeMap<String, i64>;

/// A client for one Placement endpoint.
#[derive(Clone, Debug)]
pub struct PlacementClient {
    base: String,
    http: reqwest::Client,
    token: Arc<RwLock<String>>,
}

impl PlacementClient {
    /// A client for `base` (`http://host:8778`).
    pub fn new(base: impl Into<String>) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(ApiError::transport)?;
        Ok(PlacementClient {
            base: base.into().trim_end_matches('/').to_string(),
            http,
            token: Arc::new(RwLock::new(String::new())),
        })
    }

    /// Sets the token sent as `X-Auth-Token` (a service user's, with the `service` or
    /// `admin` role); shared by clones of this client.
    pub fn set_token(&self, token: impl Into<String>) {
        if let Ok(mut t) = self.token.write() {
            *t = token.into();
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Vec<u8>), ApiError> {
        let token = self.token.read().map(|t| t.clone()).unwrap_or_default();
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("x-auth-token", token)
            .header(
                "openstack-api-version",
                format!("placement {CLIENT_MICROVERSION}"),
            )
            .header("accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(ApiError::transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(ApiError::transport)?.to_vec();
        if status.is_success() {
            return Ok((status, bytes));
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let e = &v["errors"][0];
        Err(ApiError {
            status: status.as_u16(),
            code: e["code"].as_str().map(String::from),
            detail: e["detail"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let (status, bytes) = self.call(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError {
            status: status.as_u16(),
            code: None,
            detail: format!("unexpected placement response: {e}"),
        })
    }

    /// `GET /resource_providers/{uuid}`.
    pub async fn get_provider(&self, uuid: &str) -> Result<ResourceProvider, ApiError> {
        self.json(Method::GET, &format!("/resource_providers/{uuid}"), None)
            .await
    }

    /// Returns the provider `uuid`, creating it with `name` (under `parent`) if it does
    /// not exist. A concurrent creation of the same uuid is not an error.
    pub async fn ensure_provider(
        &self,
        uuid: &str,
        name: &str,
        parent: Option<&str>,
    ) -> Result<ResourceProvider, ApiError> {
        match self.get_provider(uuid).await {
            Ok(p) => return Ok(p),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let mut body = json!({"uuid": uuid, "name": name});
        if let Some(p) = parent {
            body["parent_provider_uuid"] = json!(p);
        }
        match self
            .json(Method::POST, "/resource_providers", Some(&body))
            .await
        {
            Ok(p) => Ok(p),
            Err(e) if e.status == 409 => self.get_provider(uuid).await,
            Err(e) => Err(e),
        }
    }

    /// `DELETE /resource_providers/{uuid}`.
    pub async fn delete_provider(&self, uuid: &str) -> Result<(), ApiError> {
        self.call(Method::DELETE, &format!("/resource_providers/{uuid}"), None)
            .await
            .map(|_| ())
    }

    /// `GET /resource_providers/{uuid}/inventories`.
    pub async fn get_inventories(&self, uuid: &str) -> Result<Inventories, ApiError> {
        self.json(
            Method::GET,
            &format!("/resource_providers/{uuid}/inventories"),
            None,
        )
        .await
    }

    /// Replaces the provider's inventories, re-reading the generation and retrying when
    /// another writer bumped it. Returns the new generation. A `409` with
    /// [`codes::INVENTORY_INUSE`] means allocations exceed the new capacity.
    pub async fn set_inventories(
        &self,
        uuid: &str,
        inventories: BTreeMap<String, Inventory>,
    ) -> Result<i64, ApiError> {
        let path = format!("/resource_providers/{uuid}/inventories");
        let mut last = None;
        for _ in 0..GENERATION_RETRIES {
            let gen = self.get_provider(uuid).await?.generation;
            let body = serde_json::to_value(Inventories {
                resource_provider_generation: gen,
                inventories: inventories.clone(),
            })
            .map_err(|e| ApiError {
                status: 0,
                code: None,
                detail: format!("encoding inventories: {e}"),
            })?;
            match self
                .json::<Inventories>(Method::PUT, &path, Some(&body))
                .await
            {
                Ok(r) => return Ok(r.resource_provider_generation),
                Err(e) if e.is_concurrent_update() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ApiError {
            status: 409,
            code: Some(codes::CONCURRENT_UPDATE.into()),
            detail: "generation conflicts persisted".into(),
        }))
    }

    /// Replaces the provider's traits (custom traits are created first), retrying on
    /// generation conflicts. Returns the new generation.
    pub async fn set_traits(&self, uuid: &str, traits: &[String]) -> Result<i64, ApiError> {
        for t in traits.iter().filter(|t| t.starts_with("CUSTOM_")) {
            self.call(Method::PUT, &format!("/traits/{t}"), None)
                .await?;
        }
        let path = format!("/resource_providers/{uuid}/traits");
        let mut last = None;
        for _ in 0..GENERATION_RETRIES {
            let gen = self.get_provider(uuid).await?.generation;
            let body = json!({"resource_provider_generation": gen, "traits": traits});
            match self.json::<Value>(Method::PUT, &path, Some(&body)).await {
                Ok(r) => {
                    return Ok(r["resource_provider_generation"]
                        .as_i64()
                        .unwrap_or(gen + 1))
                }
                Err(e) if e.is_concurrent_update() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ApiError {
            status: 409,
            code: Some(codes::CONCURRENT_UPDATE.into()),
            detail: "generation conflicts persisted".into(),
        }))
    }

    /// `GET /allocation_candidates` for `q`.
    pub async fn allocation_candidates(
        &self,
        q: &CandidateQuery,
    ) -> Result<AllocationCandidates, ApiError> {
        self.json(
            Method::GET,
            &format!("/allocation_candidates?{}", q.to_query()),
            None,
        )
        .await
    }

    /// `GET /allocations/{consumer}`.
    pub async fn get_allocations(&self, consumer: &str) -> Result<ConsumerAllocations, ApiError> {
        self.json(Method::GET, &format!("/allocations/{consumer}"), None)
            .await
    }

    /// `PUT /allocations/{consumer}` with an explicit consumer generation (`None` for a
    /// consumer that holds nothing yet). A `409` with [`codes::CONCURRENT_UPDATE`] means
    /// the consumer changed since it was read; another `409` means a provider lacks
    /// capacity.
    pub async fn put_allocations(
        &self,
        consumer: &str,
        allocations: &BTreeMap<String, ProviderAllocation>,
        project_id: &str,
        user_id: &str,
        consumer_generation: Option<i64>,
        consumer_type: &str,
    ) -> Result<(), ApiError> {
        let allocs: BTreeMap<&String, Value> = allocations
            .iter()
            .map(|(k, v)| (k, json!({"resources": v.resources})))
            .collect();
        let body = json!({
            "allocations": allocs,
            "project_id": project_id,
            "user_id": user_id,
            "consumer_generation": consumer_generation,
            "consumer_type": consumer_type,
        });
        self.call(
            Method::PUT,
            &format!("/allocations/{consumer}"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Claims an allocation request (from [`Self::allocation_candidates`]) for a new
    /// `INSTANCE` consumer. Fails with 409 if the consumer already holds allocations or
    /// a provider no longer has room (another claim won the race): ask for candidates
    /// again and retry.
    pub async fn claim(
        &self,
        consumer: &str,
        request: &AllocationRequest,
        project_id: &str,
        user_id: &str,
    ) -> Result<(), ApiError> {
        self.put_allocations(
            consumer,
            &request.allocations,
            project_id,
            user_id,
            None,
            "INSTANCE",
        )
        .await
    }

    /// `GET /resource_providers/{uuid}/allocations`: the consumers holding resources on
    /// the provider.
    pub async fn provider_consumers(&self, uuid: &str) -> Result<Vec<String>, ApiError> {
        let v: Value = self
            .json(
                Method::GET,
                &format!("/resource_providers/{uuid}/allocations"),
                None,
            )
            .await?;
        Ok(v["allocations"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// `DELETE /allocations/{consumer}`; a consumer with nothing allocated is not an error.
    pub async fn delete_allocations(&self, consumer: &str) -> Result<(), ApiError> {
        match self
            .call(Method::DELETE, &format!("/allocations/{consumer}"), None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `GET /resource_providers/{uuid}/usages`: amount used per class.
    pub async fn provider_usages(&self, uuid: &str) -> Result<Usages, ApiError> {
        let v: Value = self
            .json(
                Method::GET,
                &format!("/resource_providers/{uuid}/usages"),
                None,
            )
            .await?;
        Ok(usage_map(&v["usages"]))
    }

    /// `GET /usages?project_id=..[&user_id=..]`: a project's totals per class (all
    /// consumer types).
    pub async fn usages(
        &self,
        project_id: &str,
        user_id: Option<&str>,
    ) -> Result<Usages, ApiError> {
        let mut path = format!("/usages?project_id={}", encode(project_id));
        if let Some(u) = user_id {
            path.push_str(&format!("&user_id={}", encode(u)));
        }
        let v: Value = self.json(Method::GET, &path, None).await?;
        // 1.38+ groups by consumer type: {"usages": {"INSTANCE": {"consumer_count": 1, "VCPU": 2}}}.
        let mut out = Usages::new();
        if let Some(groups) = v["usages"].as_object() {
            for g in groups.values() {
                for (k, n) in usage_map(g) {
                    *out.entry(k).or_default() += n;
                }
            }
        }
        Ok(out)
    }
}

fn usage_map(v: &Value) -> Usages {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "consumer_count")
                .filter_map(|(k, n)| n.as_i64().map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string() {
        let q = CandidateQuery::resources([("VCPU", 2), ("MEMORY_MB", 512)])
            .required(["HW_CPU_X86_AVX", "!COMPUTE_STATUS_DISABLED"])
            .limit(3);
        assert_eq!(
            q.to_query(),
            "resources=MEMORY_MB:512,VCPU:2&required=HW_CPU_X86_AVX,!COMPUTE_STATUS_DISABLED&limit=3"
        );
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}

//! The metadata proxy without root: listeners on loopback in the test's own namespace,
//! guests played by clients bound to 127.0.0.x source addresses, upstream either the
//! real metadata API over a fake instance source or an echo server.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::Request;
use axum::http::StatusCode;
use rustack_metadata::proxy::ProxyReport;
use rustack_metadata::sign::sign;
use rustack_metadata::{
    attribution_channel, Attribution, Context, InstanceMetadata, InstanceSource, ListenerSpec,
    MetadataConfig, MetadataProxy, Owner, PortRecord, SourceError,
};
use serde_json::{json, Value};

const SECRET: &str = "proxy-secret";
const VM1: &str = "11111111-1111-4111-8111-111111111111";
const GUEST: &str = "127.0.0.2";
const STRANGER: &str = "127.0.0.3";

struct OneInstance;

#[async_trait]
impl InstanceSource for OneInstance {
    async fn instance(&self, id: &str) -> Result<Option<InstanceMetadata>, SourceError> {
        Ok((id == VM1).then(|| InstanceMetadata {
            uuid: VM1.into(),
            name: "vm1".into(),
            hostname: "vm1".into(),
            project_id: "p1".into(),
            ec2_instance_id: "i-00000001".into(),
            ..InstanceMetadata::default()
        }))
    }
}

async fn serve(app: axum::Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

/// The real metadata API.
async fn nova() -> SocketAddr {
    let cfg = MetadataConfig {
        shared_secret: SECRET.into(),
        ..MetadataConfig::default()
    };
    serve(rustack_metadata::server::router(
        &cfg,
        Arc::new(OneInstance),
    ))
    .await
}

/// An upstream that echoes what it received and counts requests.
async fn echo(hits: Arc<AtomicUsize>) -> SocketAddr {
    let app = axum::Router::new().fallback(move |req: Request| {
        let hits = hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (k, v) in req.headers() {
                headers
                    .entry(k.as_str().to_string())
                    .or_default()
                    .push(v.to_str().unwrap().to_string());
            }
            let method = req.method().to_string();
            let uri = req.uri().to_string();
            let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap();
            axum::Json(json!({
                "method": method,
                "uri": uri,
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            }))
        }
    });
    serve(app).await
}

fn table(entries: &[(Context, &str, &str)]) -> Arc<Attribution> {
    let mut t = Attribution::new();
    for (ctx, ip, inst) in entries {
        t.insert(
            ctx.clone(),
            ip.parse().unwrap(),
            Owner {
                instance_id: inst.to_string(),
                project_id: "p1".into(),
            },
        );
    }
    Arc::new(t)
}

fn net(id: &str) -> Context {
    Context::Network(id.into())
}

fn local(ctx: Context) -> ListenerSpec {
    ListenerSpec {
        netns: None,
        addr: "127.0.0.1:0".parse().unwrap(),
        context: ctx,
    }
}

fn proxy(
    upstream: SocketAddr,
    rx: tokio::sync::watch::Receiver<Arc<Attribution>>,
) -> MetadataProxy {
    let cfg = MetadataConfig {
        shared_secret: SECRET.into(),
        nova_metadata_url: format!("http://{upstream}/"),
        ..MetadataConfig::default()
    };
    MetadataProxy::new(&cfg, rx)
}

fn client(src: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(src.parse::<IpAddr>().unwrap())
        .no_proxy()
        .build()
        .unwrap()
}

async fn bound(p: &MetadataProxy, ctx: &Context) -> SocketAddr {
    p.listeners()
        .await
        .into_iter()
        .find(|(s, _)| s.context == *ctx)
        .unwrap()
        .1
}

fn names(r: &[ListenerSpec]) -> Vec<Context> {
    r.iter().map(|s| s.context.clone()).collect()
}

#[tokio::test]
async fn known_guest_gets_its_metadata_and_others_get_404() {
    let (tx, rx) = attribution_channel();
    tx.send(table(&[(net("n1"), GUEST, VM1)])).unwrap();
    let p = proxy(nova().await, rx);
    let r = p.reconcile(&[local(net("n1"))]).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let addr = bound(&p, &net("n1")).await;

    let res = client(GUEST)
        .get(format!("http://{addr}/openstack/latest/meta_data.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    let md: Value = res.json().await.unwrap();
    assert_eq!(
        (md["uuid"].as_str(), md["hostname"].as_str()),
        (Some(VM1), Some("vm1.novalocal"))
    );
    let res = client(GUEST)
        .get(format!("http://{addr}/latest/meta-data/instance-id"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "i-00000001");
    // The upstream's 404 for an unknown path comes through.
    let res = client(GUEST)
        .get(format!("http://{addr}/openstack/latest/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Unknown source address: 404.
    let res = client(STRANGER)
        .get(format!("http://{addr}/openstack/latest/meta_data.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    p.shutdown().await;
}

#[tokio::test]
async fn forwarded_headers_are_signed_and_guest_headers_dropped() {
    let hits = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = attribution_channel();
    let p = proxy(echo(hits.clone()).await, rx);
    p.reconcile(&[local(net("n1"))]).await;
    let addr = bound(&p, &net("n1")).await;
    let url = format!("http://{addr}/openstack/latest/password?x=1");

    // Before the owner publishes anything every request is a 404 and nothing is forwarded.
    let res = client(GUEST).get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // A table for another network does not match this listener.
    tx.send(table(&[(net("n2"), GUEST, VM1)])).unwrap();
    assert_eq!(
        client(GUEST).get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    tx.send(table(&[(net("n1"), GUEST, VM1)])).unwrap();
    let res = client(GUEST)
        .post(&url)
        .header("X-Instance-ID", "22222222-2222-4222-8222-222222222222")
        .header("X-Instance-ID-Signature", "forged")
        .header("X-Tenant-ID", "evil")
        .header("X-Forwarded-For", "10.9.9.9")
        .header("Content-Type", "text/plain")
        .body("secret-password")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["method"], "POST");
    assert_eq!(e["uri"], "/openstack/latest/password?x=1");
    assert_eq!(e["body"], "secret-password");
    let h = &e["headers"];
    assert_eq!(h["x-instance-id"], json!([VM1]));
    assert_eq!(h["x-tenant-id"], json!(["p1"]));
    assert_eq!(h["x-instance-id-signature"], json!([sign(SECRET, VM1)]));
    assert_eq!(h["x-forwarded-for"], json!([GUEST]));
    assert_eq!(h["content-type"], json!(["text/plain"]));
    p.shutdown().await;
}

#[tokio::test]
async fn listeners_follow_the_wanted_set() {
    let (_tx, rx) = attribution_channel();
    let p = proxy(nova().await, rx);
    let a = local(net("a"));
    let b = local(Context::Router("r".into()));
    let r = p.reconcile(&[a.clone(), b.clone()]).await;
    assert_eq!(
        (names(&r.added).len(), r.removed.len(), r.errors.len()),
        (2, 0, 0)
    );
    let again: ProxyReport = p.reconcile(&[a.clone(), b.clone()]).await;
    assert!(
        again.added.is_empty() && again.removed.is_empty(),
        "idempotent"
    );
    let addr_b = bound(&p, &b.context).await;
    assert!(tokio::net::TcpStream::connect(addr_b).await.is_ok());

    let r = p.reconcile(std::slice::from_ref(&a)).await;
    assert_eq!(names(&r.removed), vec![b.context.clone()]);
    assert!(
        tokio::net::TcpStream::connect(addr_b).await.is_err(),
        "a removed listener's socket is closed"
    );
    let addr_a = bound(&p, &a.context).await;
    p.shutdown().await;
    assert!(p.listeners().await.is_empty());
    assert!(tokio::net::TcpStream::connect(addr_a).await.is_err());
}

#[tokio::test]
async fn missing_namespace_and_dead_upstream() {
    let (tx, rx) = attribution_channel();
    tx.send(table(&[(net("n1"), GUEST, VM1)])).unwrap();
    // Nothing listens on the upstream port any more.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let p = proxy(gone, rx).with_netns_dir("/nonexistent-rustack-netns");
    let in_ns = ListenerSpec::dhcp("qdhcp-n1", "n1", 0);
    let r = p.reconcile(&[in_ns.clone(), local(net("n1"))]).await;
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.errors[0].0, in_ns);
    assert_eq!(p.listeners().await.len(), 1);
    let addr = bound(&p, &net("n1")).await;
    let res = client(GUEST)
        .get(format!("http://{addr}/openstack"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    p.shutdown().await;
}

#[test]
fn attribution_from_ports() {
    let port = |net: &str, owner: &str, device: &str, ip: &str| PortRecord {
        network_id: net.into(),
        device_owner: owner.into(),
        device_id: device.into(),
        project_id: "p1".into(),
        fixed_ips: vec![ip.parse().unwrap()],
    };
    let t = Attribution::from_ports(&[
        port("n1", "compute:nova", VM1, "10.0.0.11"),
        port("n1", "compute:nova", "", "10.0.0.12"),
        port("n1", "network:dhcp", "dhcp-x", "10.0.0.2"),
        port("n1", "network:router_interface", "r1", "10.0.0.1"),
        port("n2", "compute:nova", "vm-b", "10.0.0.11"),
        port("n3", "compute:nova", "vm-c", "10.3.0.5"),
    ]);
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let r1 = Context::Router("r1".into());
    assert_eq!(
        t.lookup(&net("n1"), ip("10.0.0.11")).unwrap().instance_id,
        VM1
    );
    assert_eq!(
        t.lookup(&net("n2"), ip("10.0.0.11")).unwrap().instance_id,
        "vm-b",
        "overlapping addresses on two networks stay apart"
    );
    assert!(
        t.lookup(&net("n1"), ip("10.0.0.12")).is_none(),
        "no device_id"
    );
    assert!(
        t.lookup(&net("n1"), ip("10.0.0.2")).is_none(),
        "network ports are not instances"
    );
    assert_eq!(t.lookup(&r1, ip("10.0.0.11")).unwrap().instance_id, VM1);
    assert!(t.lookup(&r1, ip("10.3.0.5")).is_none(), "n3 is not on r1");
    assert_eq!(t.len(), 4, "n1, n2, n3 and r1 (for n1)");
}

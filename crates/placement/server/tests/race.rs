//! Concurrency: racing claims never over-commit an inventory, on SQLite and (with
//! `RUSTACK_TEST_POSTGRES_URL`) PostgreSQL; the typed client works end to end over
//! HTTP against a served instance.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use rustack_placement_api::client::{CandidateQuery, PlacementClient};
use rustack_placement_api::{AllocationRequest, Inventory, ProviderAllocation};
use rustack_placement_server::{PlacementConfig, PlacementService};

async fn serve() -> (
    String,
    Arc<PlacementService>,
    rustack_runtime::ShutdownTrigger,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = rustack_db::fresh_test_url(dir.path(), "placement_race")
        .await
        .expect("url");
    let svc = PlacementService::open(PlacementConfig::default(), &url, Arc::new(common::Personas))
        .await
        .expect("open");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let running = rustack_placement_server::run(svc.clone(), listener, shutdown).expect("run");
    (format!("http://{}", running.addr), svc, trigger, dir)
}

fn request(rp: &str, n: i64) -> AllocationRequest {
    AllocationRequest {
        allocations: BTreeMap::from([(
            rp.to_string(),
            ProviderAllocation {
                generation: None,
                resources: BTreeMap::from([("VCPU".to_string(), n)]),
            },
        )]),
        mappings: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_claims_for_capacity_five() {
    let (base, _svc, _shutdown, _dir) = serve().await;
    let client = PlacementClient::new(&base).expect("client");
    client.set_token("service");
    let rp = common::uuid();
    client
        .ensure_provider(&rp, "race-host", None)
        .await
        .expect("provider");
    // Capacity (total - reserved) * ratio = (3 - 1) * 2.5 = 5.
    let mut inv = Inventory::with_total(3);
    inv.reserved = 1;
    inv.allocation_ratio = 2.5;
    client
        .set_inventories(&rp, BTreeMap::from([("VCPU".to_string(), inv)]))
        .await
        .expect("inventory");

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = client.clone();
        let rp = rp.clone();
        tasks.push(tokio::spawn(async move {
            let consumer = common::uuid();
            client
                .claim(&consumer, &request(&rp, 1), "p1", "u1")
                .await
                .map(|_| consumer)
        }));
    }
    let mut won = Vec::new();
    let mut lost = 0;
    for t in futures::future::join_all(tasks).await {
        match t.expect("task") {
            Ok(c) => won.push(c),
            Err(e) => {
                assert_eq!(e.status, 409, "{e:?}");
                lost += 1;
            }
        }
    }
    assert_eq!(won.len(), 5, "exactly capacity claims succeed");
    assert_eq!(lost, 15);
    let usage = client.provider_usages(&rp).await.expect("usages");
    assert_eq!(usage["VCPU"], 5);
    assert_eq!(client.usages("p1", None).await.expect("usages")["VCPU"], 5);
    // No candidates remain; releasing one makes room for exactly one more.
    let q = CandidateQuery::resources([("VCPU", 1)]);
    assert!(client
        .allocation_candidates(&q)
        .await
        .expect("candidates")
        .allocation_requests
        .is_empty());
    client.delete_allocations(&won[0]).await.expect("delete");
    let c = client.allocation_candidates(&q).await.expect("candidates");
    assert_eq!(c.allocation_requests.len(), 1);
    assert_eq!(c.provider_summaries[&rp].resources["VCPU"].capacity, 5);
    assert_eq!(c.provider_summaries[&rp].resources["VCPU"].used, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_mixed_sizes_and_inventory_updates() {
    let (base, svc, _shutdown, _dir) = serve().await;
    let client = PlacementClient::new(&base).expect("client");
    client.set_token("admin");
    let rp = common::uuid();
    client
        .ensure_provider(&rp, "mixed-host", None)
        .await
        .expect("provider");
    client
        .set_inventories(
            &rp,
            BTreeMap::from([("VCPU".to_string(), Inventory::with_total(10))]),
        )
        .await
        .expect("inventory");
    let mut tasks = Vec::new();
    for i in 0..30 {
        let client = client.clone();
        let rp = rp.clone();
        tasks.push(tokio::spawn(async move {
            if i % 10 == 9 {
                // Inventory writers race the claims (retrying on generation conflicts).
                let mut inv = Inventory::with_total(10);
                inv.reserved = 0;
                return client
                    .set_inventories(&rp, BTreeMap::from([("VCPU".to_string(), inv)]))
                    .await
                    .map(|_| 0);
            }
            let n = 1 + (i % 3) as i64;
            client
                .claim(&common::uuid(), &request(&rp, n), "p1", "u1")
                .await
                .map(|_| n)
        }));
    }
    let mut claimed = 0;
    for t in futures::future::join_all(tasks).await {
        match t.expect("task") {
            Ok(n) => claimed += n,
            Err(e) => assert_eq!(e.status, 409, "{e:?}"),
        }
    }
    let usage = client.provider_usages(&rp).await.expect("usages")["VCPU"];
    assert_eq!(usage, claimed);
    assert!(usage <= 10, "over-committed: {usage}");
    assert!(usage >= 8, "capacity left unused: {usage}");
    // The store agrees.
    assert_eq!(
        svc.store().provider_usages(&rp).await.expect("usage")["VCPU"],
        usage
    );
}

#[tokio::test]
async fn client_provider_traits_and_consumer_flow() {
    let (base, _svc, _shutdown, _dir) = serve().await;
    let client = PlacementClient::new(&base).expect("client");
    client.set_token("service");
    let rp = common::uuid();
    let p = client
        .ensure_provider(&rp, "host-a", None)
        .await
        .expect("create");
    assert_eq!(p.generation, 0);
    // Idempotent.
    assert_eq!(
        client
            .ensure_provider(&rp, "host-a", None)
            .await
            .expect("again")
            .uuid,
        rp
    );
    let gen = client
        .set_inventories(
            &rp,
            BTreeMap::from([
                ("VCPU".to_string(), Inventory::with_total(4)),
                ("MEMORY_MB".to_string(), Inventory::with_total(2048)),
            ]),
        )
        .await
        .expect("inv");
    assert_eq!(gen, 1);
    let gen = client
        .set_traits(
            &rp,
            &["HW_CPU_X86_AVX2".to_string(), "CUSTOM_RUSTACK".to_string()],
        )
        .await
        .expect("traits");
    assert_eq!(gen, 2);
    let q = CandidateQuery::resources([("VCPU", 2), ("MEMORY_MB", 512)])
        .required(["CUSTOM_RUSTACK"])
        .limit(5);
    let c = client.allocation_candidates(&q).await.expect("candidates");
    assert_eq!(c.allocation_requests.len(), 1);
    assert!(c.provider_summaries[&rp]
        .traits
        .contains(&"CUSTOM_RUSTACK".to_string()));
    let consumer = common::uuid();
    client
        .claim(&consumer, &c.allocation_requests[0], "p1", "u1")
        .await
        .expect("claim");
    // A second claim for the same consumer with a null generation is a conflict.
    let e = client
        .claim(&consumer, &c.allocation_requests[0], "p1", "u1")
        .await
        .expect_err("dup");
    assert!(e.is_concurrent_update(), "{e:?}");
    let got = client.get_allocations(&consumer).await.expect("get");
    assert_eq!(got.consumer_generation, Some(0));
    assert_eq!(got.allocations[&rp].resources["VCPU"], 2);
    // Resize with the consumer generation.
    let mut bigger = got.allocations.clone();
    bigger
        .get_mut(&rp)
        .expect("rp")
        .resources
        .insert("VCPU".into(), 3);
    client
        .put_allocations(
            &consumer,
            &bigger,
            "p1",
            "u1",
            got.consumer_generation,
            "INSTANCE",
        )
        .await
        .expect("resize");
    assert_eq!(client.provider_usages(&rp).await.expect("usage")["VCPU"], 3);
    client.delete_allocations(&consumer).await.expect("delete");
    client
        .delete_allocations(&consumer)
        .await
        .expect("idempotent delete");
    client.delete_provider(&rp).await.expect("delete provider");
    assert!(client
        .get_provider(&rp)
        .await
        .expect_err("gone")
        .is_not_found());
}

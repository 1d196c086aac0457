//! Wire samples: response bodies of the main operations compared with the golden
//! files in `tests/samples/` after normalising ids, owners, digests and times (like
//! nova's `doc/api_samples`). `RUSTACK_UPDATE_SAMPLES=1` rewrites the files.

mod common;

use common::*;
use serde_json::{json, Value};

fn normalize(v: &Value, ids: &[(&str, &str)]) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.clone();
            for (from, to) in ids {
                out = out.replace(from, to);
            }
            if rustack_common::time::parse_iso(&out).is_some() && out.ends_with('Z') {
                out = "%(isotime)s".into();
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize(x, ids)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), normalize(x, ids)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn check(name: &str, got: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(got).expect("json") + "\n";
    if std::env::var("RUSTACK_UPDATE_SAMPLES").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("write sample");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing sample {}", path.display()));
    let want: Value = serde_json::from_str(&want).expect("sample is JSON");
    assert_eq!(
        got, &want,
        "sample {name} differs (RUSTACK_UPDATE_SAMPLES=1 to accept)"
    );
}

#[tokio::test]
async fn wire_samples() {
    let s = start().await;
    let (st, created) = s
        .post(ALICE, "/v2/images", json!({"name": "cirros", "disk_format": "qcow2", "container_format": "bare",
            "visibility": "shared", "min_disk": 1, "min_ram": 64, "os_distro": "cirros", "tags": ["test"]}))
        .await;
    assert_eq!(st, 201);
    let id = created["id"].as_str().expect("id").to_string();
    let mut content = vec![0u8; 512];
    content[..4].copy_from_slice(b"QFI\xfb");
    content[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
    assert_eq!(s.upload(ALICE, &id, content).await, 204);
    let (_, shown) = s.get(ALICE, &format!("/v2/images/{id}")).await;
    let (_, member) = s
        .post(
            ALICE,
            &format!("/v2/images/{id}/members"),
            json!({"member": P_B}),
        )
        .await;
    let (_, members) = s.get(ALICE, &format!("/v2/images/{id}/members")).await;
    let (_, list) = s.get(ALICE, "/v2/images?limit=1").await;
    let (_, patched) = s
        .patch(
            ALICE,
            &id,
            json!([{"op": "replace", "path": "/name", "value": "cirros-0.6"}]),
        )
        .await;
    let (_, err) = s
        .get(ALICE, "/v2/images/00000000-0000-0000-0000-000000000000")
        .await;
    let hash = shown["os_hash_value"].as_str().expect("hash").to_string();
    let md5 = shown["checksum"].as_str().expect("md5").to_string();
    let ids = [
        (id.as_str(), "%(image_id)s"),
        (hash.as_str(), "%(sha512)s"),
        (md5.as_str(), "%(md5)s"),
    ];
    check("image-create-resp", &normalize(&created, &ids));
    check("image-show-resp", &normalize(&shown, &ids));
    check("image-update-resp", &normalize(&patched, &ids));
    check("images-list-resp", &normalize(&list, &ids));
    check("image-member-create-resp", &normalize(&member, &ids));
    check("image-members-list-resp", &normalize(&members, &ids));
    check("image-not-found-resp", &normalize(&err, &ids));
}

//! Image data on the in-process service: streamed chunked uploads, digests, Range
//! downloads, interrupted and concurrent uploads, size limits, crash recovery and
//! glance-direct / web-download import.

mod common;

use common::*;
use md5::Digest;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends a chunked PUT over a raw connection, `chunk` bytes at a time; when
/// `abort_after` is set, closes the connection after that many bytes without
/// finishing the body. Returns the status line's code, if a response came.
async fn chunked_put(
    s: &Svc,
    token: &str,
    path: &str,
    body: &[u8],
    chunk: usize,
    abort_after: Option<usize>,
) -> Option<u16> {
    let mut conn = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {token}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        s.addr
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    let mut sent = 0;
    for piece in body.chunks(chunk) {
        if let Some(limit) = abort_after {
            if sent >= limit {
                conn.shutdown().await.ok();
                drop(conn);
                return None;
            }
        }
        conn.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .await
            .expect("size");
        conn.write_all(piece).await.expect("chunk");
        conn.write_all(b"\r\n").await.expect("crlf");
        sent += piece.len();
    }
    conn.write_all(b"0\r\n\r\n").await.expect("end");
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok())
}

fn md5_hex(d: &[u8]) -> String {
    hex::encode(md5::Md5::digest(d))
}

fn sha512_hex(d: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(d))
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn streamed_chunked_upload_digests_and_download() {
    let s = start().await;
    let id = s.create_raw(ALICE, json!({})).await;
    // No data yet: 204 with an empty body.
    assert_eq!(s.download(ALICE, &id).await, (204, vec![]));
    let body = data(6 * 1024 * 1024 + 123, 42);
    let code = chunked_put(
        &s,
        ALICE,
        &format!("/v2/images/{id}/file"),
        &body,
        64 * 1024,
        None,
    )
    .await;
    assert_eq!(code, Some(204));
    let (_, img) = s.get(ALICE, &format!("/v2/images/{id}")).await;
    assert_eq!(img["status"], "active");
    assert_eq!(img["size"], body.len() as u64);
    assert_eq!(
        img["virtual_size"],
        body.len() as u64,
        "raw: virtual size = size"
    );
    assert_eq!(img["checksum"], md5_hex(&body));
    assert_eq!(img["os_hash_algo"], "sha512");
    assert_eq!(img["os_hash_value"], sha512_hex(&body));
    // Readers may not download (download_image needs the member role, as upstream).
    assert_eq!(s.download(ALICE_READER, &id).await.0, 403);
    let r = s
        .req(
            reqwest::Method::GET,
            Some(ALICE),
            &format!("/v2/images/{id}/file"),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-md5"], md5_hex(&body).as_str());
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        r.headers()["content-length"],
        body.len().to_string().as_str()
    );
    assert!(r.bytes().await.expect("bytes") == body);
    // A second upload to an active image is a state conflict.
    assert_eq!(s.upload(ALICE, &id, vec![1, 2, 3]).await, 409);
    // Only the data file is left in the store.
    assert_eq!(
        files_in(&s.dir.path().join("images/.incomplete")),
        Vec::<String>::new()
    );
    assert!(s.dir.path().join("images").join(&id).exists());
    // Deleting the image removes its data.
    assert_eq!(s.delete(ALICE, &format!("/v2/images/{id}")).await, 204);
    assert!(!s.dir.path().join("images").join(&id).exists());
}

#[tokio::test]
async fn range_downloads() {
    let s = start().await;
    let id = s.create_raw(ALICE, json!({})).await;
    let body = data(1000, 7);
    assert_eq!(s.upload(ALICE, &id, body.clone()).await, 204);
    let get = |range: &'static str| {
        s.req(
            reqwest::Method::GET,
            Some(ALICE),
            &format!("/v2/images/{id}/file"),
        )
        .header("range", range)
        .send()
    };
    let r = get("bytes=0-9").await.expect("get");
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 0-9/1000");
    assert_eq!(r.bytes().await.expect("b").to_vec(), body[..10].to_vec());
    let r = get("bytes=990-").await.expect("get");
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.bytes().await.expect("b").to_vec(), body[990..].to_vec());
    let r = get("bytes=-5").await.expect("get");
    assert_eq!(r.headers()["content-range"], "bytes 995-999/1000");
    assert_eq!(r.bytes().await.expect("b").to_vec(), body[995..].to_vec());
    assert_eq!(
        get("bytes=1000-").await.expect("get").status().as_u16(),
        416
    );
    assert_eq!(get("bytes=a-b").await.expect("get").status().as_u16(), 416);
    assert_eq!(
        get("bytes=0-1,5-6").await.expect("get").status().as_u16(),
        400
    );
}

#[tokio::test]
async fn interrupted_upload_returns_to_queued_and_leaves_no_data() {
    let s = start().await;
    let id = s.create_raw(ALICE, json!({})).await;
    let body = data(4 * 1024 * 1024, 3);
    // Half a body, then the client goes away once the server is receiving.
    let mut conn = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let head = format!(
        "PUT /v2/images/{id}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {ALICE}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    conn.write_all(&body[..1024 * 1024]).await.expect("part");
    s.wait_status(ALICE, &id, "saving").await;
    drop(conn);
    let img = s.wait_status(ALICE, &id, "queued").await;
    assert!(img["size"].is_null());
    assert!(img["checksum"].is_null());
    // The partial file is gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !files_in(&s.dir.path().join("images/.incomplete")).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "temporary data left behind"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!s.dir.path().join("images").join(&id).exists());
    // The upload can be retried.
    assert_eq!(s.upload(ALICE, &id, body.clone()).await, 204);
    assert_eq!(s.download(ALICE, &id).await, (200, body));
}

#[tokio::test]
async fn concurrent_uploads() {
    let s = start().await;
    let a = s.create_raw(ALICE, json!({})).await;
    let b = s.create_raw(ALICE, json!({})).await;
    // A slow upload holds image `a` in `saving`.
    let mut conn = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let head = format!(
        "PUT /v2/images/{a}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {ALICE}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("write");
    s.wait_status(ALICE, &a, "saving").await;
    // A second upload to the same image: 409. Other images upload in parallel.
    assert_eq!(s.upload(ALICE, &a, b"other".to_vec()).await, 409);
    assert_eq!(s.upload(ALICE, &b, b"fine".to_vec()).await, 204);
    conn.write_all(b"2\r\nef\r\n0\r\n\r\n")
        .await
        .expect("finish");
    let mut buf = vec![0u8; 1024];
    let n = conn.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 204"));
    assert_eq!(s.download(ALICE, &a).await, (200, b"abcdef".to_vec()));
}

#[tokio::test]
async fn upload_rules_and_limits() {
    let cfg = rustack_image_api::ImageConfig {
        image_size_cap: 1000,
        ..Default::default()
    };
    let s = start_with(cfg).await;
    let id = s.create_raw(ALICE, json!({})).await;
    // Wrong or missing content type: 415.
    let r = s
        .req(
            reqwest::Method::PUT,
            Some(ALICE),
            &format!("/v2/images/{id}/file"),
        )
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 415);
    // Too large: 413, and the image is still queued.
    assert_eq!(s.upload(ALICE, &id, vec![0; 1001]).await, 413);
    assert_eq!(
        s.get(ALICE, &format!("/v2/images/{id}")).await.1["status"],
        "queued"
    );
    // Readers and other projects may not upload.
    assert_eq!(s.upload(ALICE_READER, &id, vec![1]).await, 403);
    assert_eq!(s.upload(BOB, &id, vec![1]).await, 404);
    // Formats must be set first.
    let bare = s.create(ALICE, json!({"name": "no-formats"})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = s
        .req(
            reqwest::Method::PUT,
            Some(ALICE),
            &format!("/v2/images/{bare}/file"),
        )
        .header("content-type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 400);
    assert!(r
        .text()
        .await
        .expect("t")
        .contains("must be set prior to saving data"));
    // qcow2 virtual size comes from the header.
    let q = s.create_raw(ALICE, json!({"disk_format": "qcow2"})).await;
    let mut h = vec![0u8; 600];
    h[..4].copy_from_slice(b"QFI\xfb");
    h[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
    assert_eq!(s.upload(ALICE, &q, h).await, 204);
    let (_, v) = s.get(ALICE, &format!("/v2/images/{q}")).await;
    assert_eq!(v["virtual_size"], 1u64 << 30);
    assert_eq!(v["size"], 600);
    // Arbitrary bytes are accepted for any format (no format enforcement).
    let v2 = s.create_raw(ALICE, json!({"disk_format": "vhd"})).await;
    assert_eq!(s.upload(ALICE, &v2, vec![9; 10]).await, 204);
    assert!(s.get(ALICE, &format!("/v2/images/{v2}")).await.1["virtual_size"].is_null());
}

#[tokio::test]
async fn storage_quota() {
    let cfg = rustack_image_api::ImageConfig {
        image_size_total: 1,
        ..Default::default()
    };
    let s = start_with(cfg).await;
    let a = s.create_raw(ALICE, json!({})).await;
    assert_eq!(s.upload(ALICE, &a, vec![0; 700 * 1024]).await, 204);
    let b = s.create_raw(ALICE, json!({})).await;
    // Declared size over the remaining quota: refused before reading.
    assert_eq!(s.upload(ALICE, &b, vec![0; 400 * 1024]).await, 413);
    assert_eq!(
        chunked_put(
            &s,
            ALICE,
            &format!("/v2/images/{b}/file"),
            &vec![0; 400 * 1024],
            32 * 1024,
            None
        )
        .await,
        Some(413)
    );
    assert_eq!(
        s.get(ALICE, &format!("/v2/images/{b}")).await.1["status"],
        "queued"
    );
    assert_eq!(s.upload(ALICE, &b, vec![0; 100 * 1024]).await, 204);
    let (st, u) = s.get(ALICE, "/v2/info/usage").await;
    assert_eq!(st, 200);
    assert_eq!(u["usage"]["image_size_total"]["limit"], 1);
    assert_eq!(u["usage"]["image_count_total"]["usage"], 2);
}

#[tokio::test]
async fn restart_recovers_interrupted_transfers() {
    let s = start().await;
    let id = s.create_raw(ALICE, json!({})).await;
    let done = s.create_raw(ALICE, json!({})).await;
    assert_eq!(s.upload(ALICE, &done, vec![5; 100]).await, 204);
    let (dir, db_url) = s.stop().await;
    // Simulate a crash mid-upload: status `saving` and a partial temporary file.
    let db = rustack_db::Db::connect(&db_url).await.expect("db");
    let store = rustack_image_server::Store::new(db.clone());
    store
        .image_set_status(
            &id,
            &[rustack_image_api::ImageStatus::Queued],
            rustack_image_api::ImageStatus::Saving,
        )
        .await
        .expect("status");
    db.close().await;
    std::fs::write(
        dir.path()
            .join("images/.incomplete")
            .join(format!("{id}.deadbeef")),
        b"partial",
    )
    .expect("write");
    let s = start_in(rustack_image_api::ImageConfig::default(), dir, db_url).await;
    let (_, v) = s.get(ALICE, &format!("/v2/images/{id}")).await;
    assert_eq!(v["status"], "queued");
    assert!(files_in(&s.dir.path().join("images/.incomplete")).is_empty());
    assert_eq!(s.download(ALICE, &done).await, (200, vec![5; 100]));
    assert_eq!(s.upload(ALICE, &id, vec![1; 10]).await, 204);
}

#[tokio::test]
async fn glance_direct_import() {
    let s = start().await;
    let (st, info) = s.get(ALICE, "/v2/info/import").await;
    assert_eq!(st, 200);
    assert_eq!(
        info["import-methods"]["value"],
        json!(["glance-direct", "web-download"])
    );
    assert_eq!(s.get(ALICE, "/v2/info/stores").await.0, 404);
    let id = s.create_raw(ALICE, json!({})).await;
    // Import before staging: 409.
    assert_eq!(
        s.post(
            ALICE,
            &format!("/v2/images/{id}/import"),
            json!({"method": {"name": "glance-direct"}})
        )
        .await
        .0,
        409
    );
    let body = data(300_000, 9);
    let r = s
        .req(
            reqwest::Method::PUT,
            Some(ALICE),
            &format!("/v2/images/{id}/stage"),
        )
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .expect("stage");
    assert_eq!(r.status().as_u16(), 204);
    let (_, v) = s.get(ALICE, &format!("/v2/images/{id}")).await;
    assert_eq!(v["status"], "uploading");
    assert_eq!(v["size"], body.len());
    for bad in [
        json!({}),
        json!({"method": {}}),
        json!({"method": {"name": "copy-image"}}),
        json!({"method": {"name": "glance-direct"}, "all_stores": "yes"}),
    ] {
        assert_eq!(
            s.post(ALICE, &format!("/v2/images/{id}/import"), bad.clone())
                .await
                .0,
            400,
            "{bad}"
        );
    }
    let (st, v) = s
        .post(
            ALICE,
            &format!("/v2/images/{id}/import"),
            json!({"method": {"name": "glance-direct"}}),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let img = s.wait_status(ALICE, &id, "active").await;
    assert_eq!(img["checksum"], md5_hex(&body));
    assert_eq!(img["os_hash_value"], sha512_hex(&body));
    assert_eq!(s.download(ALICE, &id).await, (200, body));
    assert!(files_in(&s.dir.path().join("images/staging"))
        .iter()
        .all(|f| f.starts_with('.')));
    let (_, tasks) = s.get(ALICE, &format!("/v2/images/{id}/tasks")).await;
    assert_eq!(tasks["tasks"][0]["status"], "success");
    // Active images cannot be import targets.
    assert_eq!(
        s.post(
            ALICE,
            &format!("/v2/images/{id}/import"),
            json!({"method": {"name": "glance-direct"}})
        )
        .await
        .0,
        409
    );
}

#[tokio::test]
async fn web_download_import() {
    let s = start().await;
    // A local HTTP server provides the data.
    let body = data(200_000, 11);
    let served = body.clone();
    let app = axum::Router::new().route(
        "/img",
        axum::routing::get(move || async move { served.clone() }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await });
    let id = s.create_raw(ALICE, json!({})).await;
    let (st, v) = s
        .post(
            ALICE,
            &format!("/v2/images/{id}/import"),
            json!({"method": {"name": "web-download", "uri": format!("http://{addr}/img")}}),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    let img = s.wait_status(ALICE, &id, "active").await;
    assert_eq!(img["checksum"], md5_hex(&body));
    // Unreachable or refused URLs get a clear 400 quickly, and the image stays queued.
    let id2 = s.create_raw(ALICE, json!({})).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let started = std::time::Instant::now();
    let (st, v) = s
        .post(
            ALICE,
            &format!("/v2/images/{id2}/import"),
            json!({"method": {"name": "web-download", "uri": format!("http://{closed}/x")}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["message"].as_str().expect("m").contains("not reachable"),
        "{v}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let (st, _) = s
        .post(
            ALICE,
            &format!("/v2/images/{id2}/import"),
            json!({"method": {"name": "web-download", "uri": format!("http://{addr}/missing")}}),
        )
        .await;
    assert_eq!(st, 400);
    let (st, _) = s
        .post(
            ALICE,
            &format!("/v2/images/{id2}/import"),
            json!({"method": {"name": "web-download", "uri": "file:///etc/passwd"}}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        s.get(ALICE, &format!("/v2/images/{id2}")).await.1["status"],
        "queued"
    );
}

//! The official Rust SDK (`aliyun-log-rust-sdk`) against the real
//! `sls-local` binary: logstore, index, put, read back, SQL aggregates.
//! The SDK always addresses `{project}.{endpoint}`, so it reaches us through
//! `HTTP_PROXY` with a dummy domain, as it would behind a proxy (absolute-form
//! request targets). This file holds one test: the proxy is process-wide.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use aliyun_log_rust_sdk::{
    Client, Config, FieldIndex, FromConfig, FullTextIndex, Index, IndexKeyLong, IndexKeyText,
};
use aliyun_log_sdk_protobuf::{Log, LogGroup};
use common::{SlsLocal, ACCESS_KEY_ID, ACCESS_KEY_SECRET, PROJECT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_rust_sdk_round_trip() {
    let directory = tempfile::tempdir().unwrap();
    let server = SlsLocal::start(directory.path(), None);
    std::env::set_var("HTTP_PROXY", server.endpoint());
    std::env::set_var("http_proxy", server.endpoint());
    let config = Config::builder()
        .endpoint("sls.test")
        .access_key(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        .build()
        .unwrap();
    let client = Client::from_config(config).unwrap();
    client
        .create_logstore(PROJECT, "sdk")
        .shard_count(1)
        .ttl(30)
        .send()
        .await
        .unwrap();
    let mut keys = HashMap::new();
    let text = || {
        FieldIndex::Text(IndexKeyText {
            case_sensitive: false,
            alias: None,
            chn: false,
            token: vec![" ".into(), ",".into()],
            doc_value: true,
        })
    };
    keys.insert("service".to_string(), text());
    keys.insert("user".to_string(), text());
    keys.insert(
        "latency".to_string(),
        FieldIndex::Long(IndexKeyLong {
            alias: None,
            doc_value: true,
        }),
    );
    let index = Index::builder()
        .line(FullTextIndex {
            case_sensitive: false,
            chn: false,
            token: vec![" ".into()],
        })
        .keys(keys)
        .build();
    client
        .create_index(PROJECT, "sdk", index)
        .send()
        .await
        .unwrap();

    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut written: Vec<BTreeMap<String, String>> = Vec::new();
    for group_number in 0..3u32 {
        let mut group = LogGroup::new();
        group.set_topic("sdk-topic").set_source("10.0.0.1");
        for i in 0..120u32 {
            let sequence = group_number * 120 + i;
            let service = format!("svc{}", sequence % 7);
            let user = format!("user{}", (sequence * 31) % 50);
            let latency = ((sequence * 37) % 1000).to_string();
            let mut log = Log::from_unixtime(now - 300 + sequence % 200);
            log.add_content_kv("service", service.as_str())
                .add_content_kv("user", user.as_str())
                .add_content_kv("latency", latency.as_str())
                .add_content_kv("seq", sequence.to_string().as_str());
            group.add_log(log);
            let mut row = BTreeMap::new();
            row.insert("service".to_string(), service);
            row.insert("user".to_string(), user);
            row.insert("latency".to_string(), latency);
            row.insert("seq".to_string(), sequence.to_string());
            row.insert(
                "__time__".to_string(),
                (now - 300 + sequence % 200).to_string(),
            );
            written.push(row);
        }
        client
            .put_logs(PROJECT, "sdk")
            .log_group(group)
            .send()
            .await
            .unwrap();
    }

    // Read every log back (search paging: 100 per page) and compare.
    let mut read: Vec<BTreeMap<String, String>> = Vec::new();
    let mut offset = 0;
    loop {
        let response = client
            .get_logs(PROJECT, "sdk")
            .from(i64::from(now) - 600)
            .to(i64::from(now) + 60)
            .query("*")
            .offset(offset)
            .line(100)
            .send()
            .await
            .unwrap();
        let body = response.take_body();
        assert!(body.is_complete());
        let logs = body.take_logs();
        if logs.is_empty() {
            break;
        }
        offset += logs.len() as u32;
        for log in logs {
            assert_eq!(log.get("__topic__").map(String::as_str), Some("sdk-topic"));
            assert_eq!(log.get("__source__").map(String::as_str), Some("10.0.0.1"));
            let row: BTreeMap<String, String> = log
                .into_iter()
                .filter(|(key, _)| {
                    ["service", "user", "latency", "seq", "__time__"].contains(&key.as_str())
                })
                .collect();
            read.push(row);
        }
    }
    let key = |row: &BTreeMap<String, String>| row["seq"].parse::<u32>().unwrap();
    written.sort_by_key(key);
    read.sort_by_key(key);
    assert_eq!(read, written, "every log equal");

    // SQL aggregates against the same computation over what was written.
    let response = client
        .get_logs(PROJECT, "sdk")
        .from(i64::from(now) - 600)
        .to(i64::from(now) + 60)
        .query("* | select service, count(*) as c, approx_distinct(user) as users, max_by(user, latency) as slowest group by service order by service limit 100")
        .send()
        .await
        .unwrap();
    let rows = response.take_body().take_logs();
    let mut expected: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
    for row in &written {
        let entry = expected.entry(row["service"].clone()).or_default();
        entry.0 += 1;
        entry.1.insert(row["user"].clone());
    }
    assert_eq!(rows.len(), expected.len());
    for row in rows {
        let (count, users) = &expected[&row["service"]];
        assert_eq!(row["c"], count.to_string());
        assert_eq!(row["users"], users.len().to_string());
        // Ties on the maximum latency could pick either user; check it is one of them.
        let max_latency = written
            .iter()
            .filter(|w| w["service"] == row["service"])
            .map(|w| w["latency"].parse::<u32>().unwrap())
            .max()
            .unwrap();
        let candidates: BTreeSet<&String> = written
            .iter()
            .filter(|w| {
                w["service"] == row["service"]
                    && w["latency"].parse::<u32>().unwrap() == max_latency
            })
            .map(|w| &w["user"])
            .collect();
        assert!(
            candidates.contains(&row["slowest"]),
            "max_by gave {}, expected one of {candidates:?}",
            row["slowest"]
        );
    }
}

//! Both backends against real parts: a redb file, and the local Redis (127.0.0.1:6379, as in CI).
//! Redis keys live under a unique prefix with short TTLs and are deleted at the end.

use std::sync::Arc;
use std::time::Duration;

use super::*;

const REDIS_URL: &str = "redis://127.0.0.1:6379/";

fn unique_prefix() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("warden-test-{}-{nanos}", std::process::id())
}

async fn redis_store() -> Store {
    Store::Redis(RedisStore::connect(REDIS_URL, &unique_prefix()).await.expect("the local Redis on 6379"))
}

/// The behaviour both backends share.
async fn behaves(store: &Store) {
    let ttl = Some(Duration::from_secs(60));
    store.put("client", "a", b"one", ttl).await.unwrap();
    assert_eq!(store.get("client", "a").await.unwrap().as_deref(), Some(&b"one"[..]));
    assert!(!store.put_new("client", "a", b"two", ttl).await.unwrap(), "put_new must not overwrite");
    assert_eq!(store.get("client", "a").await.unwrap().as_deref(), Some(&b"one"[..]));
    store.put("client", "a", b"three", ttl).await.unwrap();
    assert_eq!(store.get("client", "a").await.unwrap().as_deref(), Some(&b"three"[..]));

    // Expiry: gone once its time is up, and then free for put_new.
    store.put("code", "short", b"x", Some(Duration::from_millis(50))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(store.get("code", "short").await.unwrap(), None);
    assert!(store.put_new("code", "short", b"y", ttl).await.unwrap());

    // Single use.
    assert_eq!(store.take("code", "short").await.unwrap().as_deref(), Some(&b"y"[..]));
    assert_eq!(store.take("code", "short").await.unwrap(), None);
    assert!(store.delete("client", "a").await.unwrap());
    assert!(!store.delete("client", "a").await.unwrap());

    // Keys that could collide are refused.
    assert!(store.put("a:b", "c", b"", None).await.is_err());
    assert!(store.get("", "c").await.is_err());
}

/// Of many concurrent takes of one item, exactly one gets it.
async fn redeems_once(stores: &[Arc<Store>]) {
    stores[0].put("refresh", "token", b"family-1", Some(Duration::from_secs(60))).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move { store.take("refresh", "token").await.unwrap() }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_expires_redeems_once_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let store = Store::Embedded(EmbeddedStore::open(&path).unwrap());
    behaves(&store).await;
    redeems_once(&[Arc::new(store)]).await;

    let store = EmbeddedStore::open(&path).unwrap();
    Store::Embedded(store.clone()).put("client", "kept", b"registration", None).await.unwrap();
    Store::Embedded(store.clone()).put("code", "stale", b"x", Some(Duration::from_millis(10))).await.unwrap();
    drop(store);
    let reopened = EmbeddedStore::open(&path).unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(reopened.sweep().await.unwrap(), 1, "the expired code is swept");
    let reopened = Store::Embedded(reopened);
    assert_eq!(reopened.get("client", "kept").await.unwrap().as_deref(), Some(&b"registration"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_behaves_the_same_and_two_replicas_redeem_once() {
    let store = redis_store().await;
    behaves(&store).await;
    // Two replicas: two connections, one prefix.
    let prefix = unique_prefix();
    let one = Arc::new(Store::Redis(RedisStore::connect(REDIS_URL, &prefix).await.unwrap()));
    let two = Arc::new(Store::Redis(RedisStore::connect(REDIS_URL, &prefix).await.unwrap()));
    redeems_once(&[one.clone(), two.clone()]).await;
    one.put("client", "shared", b"registered on one", Some(Duration::from_secs(60))).await.unwrap();
    assert_eq!(two.get("client", "shared").await.unwrap().as_deref(), Some(&b"registered on one"[..]));
    assert!(two.delete("client", "shared").await.unwrap());
}

#[test]
fn sealed_values_open_only_unchanged_in_their_context_and_survive_key_rollover() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("store-keys");
    let first = Sealer::load_or_create(&keys).unwrap();
    let sealed = first.seal(b"refresh:abc", b"upstream refresh token").unwrap();
    assert!(!sealed.windows(8).any(|w| w == b"upstream"), "the plaintext is not visible");
    assert_eq!(first.open(b"refresh:abc", &sealed).unwrap(), b"upstream refresh token");
    assert!(matches!(first.open(b"refresh:other", &sealed), Err(SealError::Invalid)), "moved to another key");
    let mut tampered = sealed.clone();
    if let Some(last) = tampered.last_mut() {
        *last ^= 1;
    }
    assert!(matches!(first.open(b"refresh:abc", &tampered), Err(SealError::Invalid)));
    assert!(first.open(b"refresh:abc", &sealed[..10]).is_err(), "truncated");

    // Roll over: new values use the new key, old ones still open.
    let old_id = first.current_key_id().to_owned();
    let new_id = Sealer::rotate(&keys).unwrap();
    let second = Sealer::load_or_create(&keys).unwrap();
    assert_eq!(second.current_key_id(), new_id);
    assert_ne!(new_id, old_id);
    assert_eq!(second.open(b"refresh:abc", &sealed).unwrap(), b"upstream refresh token");
    let resealed = second.seal(b"refresh:abc", b"v2").unwrap();
    assert!(matches!(first.open(b"refresh:abc", &resealed), Err(SealError::UnknownKey(id)) if id == new_id));

    // Retiring the old key makes what it sealed unreadable, with a clear error.
    std::fs::remove_file(keys.join(format!("{old_id}.key"))).unwrap();
    let third = Sealer::load_or_create(&keys).unwrap();
    assert!(matches!(third.open(b"refresh:abc", &sealed), Err(SealError::UnknownKey(id)) if id == old_id));
}

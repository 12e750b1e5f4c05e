//! Nothing forgotten on restart: bans, strikes, subnet and network bans and client records
//! come back from the state file, and a crash loses at most the last flush interval.

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{client_from, conf, get, TestProxy};

const POLICY: &str = "block_at: 20\nban_for: 1h\n\
    lists: { danger_paths: LISTS/danger-paths.txt }\n\
    signals: { danger_hits: { points_per_path: 10, max_points: 60 } }\n";

#[tokio::test(flavor = "multi_thread")]
async fn bans_strikes_and_records_survive_a_restart() {
    let proxy = TestProxy::start(POLICY, "state: { path: state.db, flush_interval: 1h }\n");
    let scanner = client_from("127.0.20.1");
    for path in ["/.env", "/.git"] {
        get(&scanner, &proxy, path, &[]).await.expect("answered");
    }
    let policy = proxy.shared.policy.load_full();
    let now = proxy.now_ms();
    let manual: IpAddr = "127.0.20.2".parse().unwrap();
    let engine = &proxy.shared.engine;
    engine.ban(
        &policy,
        manual,
        Duration::from_secs(600),
        "first".into(),
        now,
    );
    engine.ban(
        &policy,
        manual,
        Duration::from_secs(600),
        "second".into(),
        now + 1,
    );
    let net = "127.0.21.0/24".parse().unwrap();
    engine.ban_network(net, Duration::from_secs(600), "range".into(), now);
    let scanner_key: IpAddr = "127.0.20.1".parse().unwrap();
    let before = engine
        .store()
        .client(scanner_key)
        .expect("recorded")
        .counts();

    // The flush interval is an hour: only the final flush on the way out saves anything.
    let proxy = proxy.restart();
    let store = proxy.shared.engine.store();
    let banned = store.offender(scanner_key).expect("the scored ban is back");
    assert!(banned.is_banned(proxy.now_ms()));
    assert_eq!(
        store
            .offender(manual)
            .expect("the manual ban is back")
            .strikes,
        2
    );
    let record = store.client(scanner_key).expect("the record is back");
    assert_eq!(record.counts().0, before.0);
    assert_eq!(record.counts().2, before.2, "first seen is kept");
    let danger = record
        .signal(rapsheet::engine::Signal::DangerHits)
        .expect("signal history");
    assert_eq!(danger.points, 20);
    assert!(!record.evidence().is_empty(), "evidence is back");

    // And still enforced: before HTTP for new connections.
    for refused in ["127.0.20.1", "127.0.20.2", "127.0.21.9"] {
        assert!(
            get(&client_from(refused), &proxy, "/", &[]).await.is_none(),
            "{refused}"
        );
    }
    let free = get(&client_from("127.0.22.1"), &proxy, "/", &[]).await;
    assert_eq!(free.expect("answered").status, 200);
}

/// A rapsheet process of its own, for what only a real process can show: being killed.
struct Process {
    child: Child,
}

impl Process {
    fn start(config: &std::path::Path) -> Process {
        let child = Command::new(env!("CARGO_BIN_EXE_rapsheet"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rapsheet starts");
        Process { child }
    }

    fn kill(&mut self) {
        // SIGKILL: no final flush, no cleanup.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_for(address: std::net::SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(address).is_err() {
        assert!(Instant::now() < deadline, "{address} never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loses_at_most_the_last_flush_interval() {
    let dir = tempfile::tempdir().unwrap();
    let lists = conf("lists");
    let policy = POLICY.replace("LISTS", lists.to_str().unwrap());
    std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
    let listen = rapsheet::server::free_loopback_port().unwrap();
    let config = format!(
        "listen: {listen}\nupstreams: demo\npolicy: policy.yaml\nmetrics: {{ listen: null }}\n\
         admin: {{ listen: null }}\nclient_ip: {{ trusted_proxies: [127.0.0.1/32] }}\n\
         state: {{ path: state.db, flush_interval: 200ms }}\n"
    );
    let config_path = dir.path().join("rapsheet.yaml");
    std::fs::write(&config_path, config).unwrap();

    let mut process = Process::start(&config_path);
    wait_for(listen);
    let client = reqwest::Client::builder()
        .local_address("127.0.0.1".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let url = format!("http://{listen}");
    // Bans made long enough before the crash must survive it.
    for i in 0..100 {
        ban_forwarded(&client, &url, i).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Keep writing while the process dies.
    let (writer_client, writer_url) = (client.clone(), url.clone());
    let writer = tokio::spawn(async move {
        for i in 100..100_000 {
            ban_forwarded(&writer_client, &writer_url, i).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    process.kill();
    writer.abort();

    let state = rapsheet::persist::StateStore::open(&dir.path().join("state.db"))
        .expect("the state file opens after a crash");
    let engine = rapsheet::engine::Engine::new(rapsheet::store::StoreLimits::default());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    state.load(&engine, now).expect("the state file reads");
    for i in 0..100 {
        let key: IpAddr = format!("198.18.{}.{}", i / 250, i % 250).parse().unwrap();
        let offender = engine.store().offender(key);
        assert!(
            offender.is_some_and(|o| o.is_banned(now)),
            "ban of {key} was lost"
        );
    }
    drop(state);

    // The restarted process enforces them.
    let _process = Process::start(&config_path);
    wait_for(listen);
    let reply = client
        .get(format!("{url}/"))
        .header("X-Forwarded-For", "198.18.0.7")
        .send()
        .await
        .expect("answered");
    assert_eq!(reply.status(), 403);
}

/// Gets the forwarded client number `i` banned (two danger paths).
async fn ban_forwarded(client: &reqwest::Client, url: &str, i: u32) {
    let forwarded = format!("198.18.{}.{}", i / 250, i % 250);
    for path in ["/.env", "/.git"] {
        let _ = client
            .get(format!("{url}{path}"))
            .header("X-Forwarded-For", &forwarded)
            .send()
            .await;
    }
}

/// During an upgrade the new process flushes the file the old one is still writing to. Its
/// flushes merge the file's bans in first, so a ban the old process made after the new one
/// read the file is neither erased from the file nor missing from the new process.
#[test]
fn flushes_during_an_upgrade_keep_the_old_process_bans() {
    use rapsheet::engine::Engine;
    use rapsheet::persist::StateStore;
    use rapsheet::store::StoreLimits;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.db");
    let policy = rapsheet::policy::Policy::load(&conf("policy.yaml")).expect("the policy loads");
    let (now, retention) = (1_700_000_000_000, Duration::from_secs(86_400));
    let (old, new) = (
        StateStore::open(&file).unwrap(),
        StateStore::open(&file).unwrap(),
    );
    let (old_engine, new_engine) = (
        Engine::new(StoreLimits::default()),
        Engine::new(StoreLimits::default()),
    );
    new.load(&new_engine, now).unwrap();
    let late: IpAddr = "127.0.30.1".parse().unwrap();
    old_engine.ban(&policy, late, Duration::from_secs(3600), "late".into(), now);
    old.flush(&old_engine, 0, retention, now).unwrap();

    new.flush_merging(&new_engine, 0, retention, now + 1000)
        .unwrap();

    let banned = |engine: &Engine| {
        let offender = engine.store().offender(late);
        offender.is_some_and(|o| o.is_banned(now + 1000))
    };
    assert!(banned(&new_engine), "the new process enforces the late ban");
    let reader = Engine::new(StoreLimits::default());
    StateStore::open(&file)
        .unwrap()
        .load(&reader, now + 1000)
        .unwrap();
    assert!(banned(&reader), "the file still holds the late ban");
}

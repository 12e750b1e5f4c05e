//! Hot reload: the policy and lists change on disk under a running proxy; valid changes
//! apply within two seconds and keep every score and ban, invalid ones change nothing.

use crate::harness::{client_from, eventually, get, TestProxy};

const POLICY: &str = "block_at: BLOCK\n\
    lists: { danger_paths: LISTS/danger-paths.txt, blocklist: block.txt }\n\
    signals: { danger_hits: { points_per_path: 10, max_points: 60 } }\n";

fn policy(block_at: u32) -> String {
    POLICY.replace("BLOCK", &block_at.to_string())
}

/// Writes `text` to `name` in the proxy's directory the way editors do: a temporary file
/// renamed over the old one.
fn save(proxy: &TestProxy, name: &str, text: &str) {
    let path = proxy.dir.path().join(name);
    let temporary = proxy.dir.path().join(format!(".{name}.swp"));
    std::fs::write(&temporary, text).expect("writing");
    std::fs::rename(&temporary, &path).expect("renaming");
}

#[tokio::test(flavor = "multi_thread")]
async fn lowering_block_at_on_disk_blocks_a_client_with_its_earlier_points() {
    let proxy = TestProxy::start_with_files(&policy(100), "", &[("block.txt", "")]);
    let client = client_from("127.0.11.1");
    for path in ["/.env", "/.git", "/.aws"] {
        assert_eq!(
            get(&client, &proxy, path, &[])
                .await
                .expect("answered")
                .status,
            404
        );
    }
    let text = std::fs::read_to_string(proxy.dir.path().join("policy.yaml")).unwrap();
    save(
        &proxy,
        "policy.yaml",
        &text.replace("block_at: 100", "block_at: 30"),
    );
    eventually("the reload", || proxy.shared.policy.load().block_at == 30);

    // 30 points earned under the old policy now block, without a new signal firing.
    let reply = get(&client, &proxy, "/", &[]).await.expect("answered");
    assert_eq!(reply.status, 403);
    // The reload is counted just after the new policy is swapped in.
    eventually("the reload counted once", || {
        proxy.metric("rapsheet_reloads_total{outcome=\"ok\"}") == Some(1.0)
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_policy_changes_nothing_and_says_where() {
    let proxy = TestProxy::start_with_files(&policy(100), "", &[("block.txt", "")]);
    let original = std::fs::read_to_string(proxy.dir.path().join("policy.yaml")).unwrap();

    save(&proxy, "policy.yaml", "block_at: 20\nsignals: [unclosed\n");
    let problems = proxy
        .reloader
        .reload("test")
        .expect_err("a syntax error is refused");
    assert_eq!(problems.0.len(), 1);
    assert!(problems.0[0].message.contains("invalid yaml"), "{problems}");
    assert!(problems.0[0].line.is_some(), "{problems}");

    let bad = original.replace("block_at: 100", "block_at: -3\nblok_at: 5");
    save(&proxy, "policy.yaml", &bad);
    let problems = proxy
        .reloader
        .reload("test")
        .expect_err("mistakes are refused");
    let located: Vec<(Option<usize>, &str)> = problems
        .0
        .iter()
        .map(|p| (p.line, p.key.as_str()))
        .collect();
    assert_eq!(
        located,
        [(Some(1), "block_at"), (Some(2), "blok_at")],
        "{problems}"
    );

    // The old policy keeps deciding: 20 points do not block under block_at 100.
    assert_eq!(proxy.shared.policy.load().block_at, 100);
    let client = client_from("127.0.12.1");
    for path in ["/.env", "/.git"] {
        assert_eq!(
            get(&client, &proxy, path, &[])
                .await
                .expect("answered")
                .status,
            404
        );
    }
    assert_eq!(
        proxy.metric("rapsheet_reloads_total{outcome=\"ok\"}"),
        Some(0.0)
    );
    // The file watcher may have refused the same files too.
    let rejected = proxy.metric("rapsheet_reloads_total{outcome=\"rejected\"}");
    assert!(rejected >= Some(2.0), "{rejected:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_blocklist_file_blocks_and_unblocks_without_restart() {
    let proxy = TestProxy::start_with_files(&policy(100), "", &[("block.txt", "")]);
    let client = client_from("127.0.13.1");
    assert_eq!(
        get(&client, &proxy, "/", &[])
            .await
            .expect("answered")
            .status,
        200
    );

    save(&proxy, "block.txt", "# listed by hand\n127.0.13.0/24\n");
    eventually("the blocklist reload", || {
        proxy.shared.policy.load().lists.blocklist.len() == 1
    });
    // The open keep-alive connection is refused with 403, a new one before HTTP.
    assert_eq!(
        get(&client, &proxy, "/", &[]).await.map(|r| r.status),
        Some(403)
    );
    let fresh = client_from("127.0.13.1");
    assert!(
        get(&fresh, &proxy, "/", &[]).await.is_none(),
        "refused before HTTP"
    );

    save(&proxy, "block.txt", "# nobody\n");
    eventually("the unblock", || {
        proxy.shared.policy.load().lists.blocklist.is_empty()
    });
    let fresh = client_from("127.0.13.1");
    assert_eq!(
        get(&fresh, &proxy, "/", &[])
            .await
            .expect("answered")
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_reloads_only_with_the_token() {
    let proxy = TestProxy::start_with_files(
        &policy(100),
        "admin: { listen: \"ADMIN\", token_file: token.txt }\n",
        &[("block.txt", ""), ("token.txt", "s3cret-token\n")],
    );
    let reloads_ok = || proxy.metric("rapsheet_reloads_total{outcome=\"ok\"}");
    let url = format!("http://{}/v1/reload", proxy.admin);
    let client = reqwest::Client::new();
    let refused = client.post(&url).send().await.expect("answered");
    assert_eq!(refused.status(), 401);
    let wrong = client
        .post(&url)
        .bearer_auth("guess")
        .send()
        .await
        .expect("answered");
    assert_eq!(wrong.status(), 401);
    assert_eq!(reloads_ok(), Some(0.0));

    let reloaded = client.post(&url).bearer_auth("s3cret-token").send().await;
    assert_eq!(reloaded.expect("answered").status(), 200);
    assert_eq!(reloads_ok(), Some(1.0));
    let health = reqwest::get(format!("http://{}/v1/health", proxy.admin)).await;
    assert_eq!(health.expect("up").status(), 200);
}

//! TLS termination: HTTP/2 and HTTP/1.1 through the TLS listener with a certificate made in
//! the test, a certificate swapped by a reload, and located errors for bad files.

use std::net::SocketAddr;
use std::process::Command;

use crate::harness::TestProxy;

/// A self-signed certificate for `localhost` and 127.0.0.1: (certificate PEM, key PEM).
fn certificate() -> (String, String) {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
    (certified.cert.pem(), certified.key_pair.serialize_pem())
}

fn https_client(cert_pem: &str, tls: SocketAddr, http1_only: bool) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem");
    let builder = reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve("localhost", tls)
        .redirect(reqwest::redirect::Policy::none());
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().expect("client")
}

const TLS: &str = "tls: { listen: \"TLS_LISTEN\", cert: cert.pem, key: key.pem }\n";

#[tokio::test(flavor = "multi_thread")]
async fn https_works_over_h2_and_http1_and_certificates_reload() {
    let (cert, key) = certificate();
    let proxy = TestProxy::start_with_files(
        "block_at: 100\n",
        TLS,
        &[("cert.pem", &cert), ("key.pem", &key)],
    );
    let tls = proxy.tls.expect("tls configured");
    let url = format!("https://localhost:{}/about", tls.port());
    for (http1_only, version) in [
        (false, http::Version::HTTP_2),
        (true, http::Version::HTTP_11),
    ] {
        let response = https_client(&cert, tls, http1_only)
            .get(&url)
            .send()
            .await
            .expect("https");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), version);
    }

    // A new certificate on disk is served after a reload, without a restart.
    let (new_cert, new_key) = certificate();
    std::fs::write(proxy.dir.path().join("cert.pem"), &new_cert).unwrap();
    std::fs::write(proxy.dir.path().join("key.pem"), &new_key).unwrap();
    proxy.reloader.reload("test").expect("reloads");
    let old_trust = https_client(&cert, tls, true).get(&url).send().await;
    assert!(
        old_trust.is_err(),
        "the old certificate is no longer served"
    );
    let new_trust = https_client(&new_cert, tls, true).get(&url).send().await;
    assert_eq!(new_trust.expect("https").status(), 200);
}

#[test]
fn bad_certificates_give_located_errors_and_a_failing_exit() {
    let (cert, _) = certificate();
    let cases = [
        ("missing", None, "tls.cert", "cannot read"),
        (
            "garbage",
            Some(("not a certificate\n", "nor a key\n")),
            "tls.cert",
            "no PEM certificate",
        ),
        (
            "no key",
            Some((cert.as_str(), "-----BEGIN NOTHING-----\n")),
            "tls.key",
            "no PEM private key",
        ),
    ];
    for (name, files, key, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.yaml"), "block_at: 100\n").unwrap();
        if let Some((cert_text, key_text)) = files {
            std::fs::write(dir.path().join("cert.pem"), cert_text).unwrap();
            std::fs::write(dir.path().join("key.pem"), key_text).unwrap();
        }
        let config = "listen: 127.0.0.1:1\nupstreams: demo\npolicy: policy.yaml\n\
                      tls: { listen: 127.0.0.1:2, cert: cert.pem, key: key.pem }\n";
        std::fs::write(dir.path().join("rapsheet.yaml"), config).unwrap();
        for command in ["check", "serve"] {
            let output = Command::new(env!("CARGO_BIN_EXE_rapsheet"))
                .args([command, "--config"])
                .arg(dir.path().join("rapsheet.yaml"))
                .output()
                .expect("runs");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{name} {command}: {stderr}");
            assert!(
                stderr.contains(&format!("rapsheet.yaml:4: {key}: ")),
                "{name}: {stderr}"
            );
            assert!(stderr.contains(message), "{name}: {stderr}");
        }
    }
}

//! nginx configurations for the upstream and the two nginx baselines. All listen on loopback
//! only, run one worker in the foreground, and keep their pid, logs and temporary files in
//! the lab directory. Both proxies keep a pool of upstream connections alive, as rapsheet
//! does, so the comparison is of proxies, not of connection setup.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use anyhow::bail;

/// The ModSecurity module as Debian installs it.
const MODSECURITY_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so";
/// The CRS rules as Debian's modsecurity-crs installs them.
const CRS_RULES: &str = "/usr/share/modsecurity-crs/rules";
/// The CRS set-up and exclusion files Debian puts in /etc.
const CRS_ETC: &str = "/etc/modsecurity/crs";

/// `nginx` run in the foreground with `file` and `dir` as its prefix.
pub fn command(dir: &Path, file: &Path) -> Command {
    let mut command = Command::new("nginx");
    command.arg("-p").arg(dir).arg("-c").arg(file);
    command
}

/// What every configuration starts with.
fn preamble(dir: &Path, module: Option<&str>) -> String {
    let dir = dir.display();
    let mut text = String::new();
    if let Some(module) = module {
        let _ = writeln!(text, "load_module {module};");
    }
    let _ = write!(
        text,
        "daemon off;\nworker_processes 1;\nuser root;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\nworker_rlimit_nofile 16384;\n\
         events {{ worker_connections 8192; }}\n"
    );
    text
}

/// The http block settings shared by all three.
fn http_common(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 65s;\n\
         \x20 client_body_temp_path {dir}/client_body;\n  proxy_temp_path {dir}/proxy;\n\
         \x20 fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n\
         \x20 scgi_temp_path {dir}/scgi;\n"
    )
}

/// The static site: files from `root`, a few redirects, 404 for the rest.
pub fn upstream_config(dir: &Path, root: &Path, listen: SocketAddr) -> String {
    let mut text = preamble(dir, None);
    text.push_str("http {\n");
    text.push_str(&http_common(dir));
    text.push_str(
        "  sendfile on;\n  tcp_nopush on;\n  open_file_cache max=1000 inactive=60s;\n\
         \x20 types { text/html html; text/css css; application/javascript js;\n\
         \x20   image/svg+xml svg; image/webp webp; image/jpeg jpg; image/png png;\n\
         \x20   image/x-icon ico; font/woff2 woff2; }\n  default_type text/html;\n",
    );
    let _ = writeln!(
        text,
        "  server {{\n    listen {listen};\n    root {};",
        root.display()
    );
    for (old, new) in crate::site::REDIRECTS {
        let _ = writeln!(text, "    location = {old} {{ return 302 {new}; }}");
    }
    text.push_str("    location / { try_files $uri $uri/index.html =404; }\n  }\n}\n");
    text
}

/// nginx as a reverse proxy to `upstream`, optionally with ModSecurity and the CRS.
///
/// # Errors
///
/// Fails when ModSecurity is asked for and its module or the CRS are not installed.
pub fn proxy_config(
    dir: &Path,
    listen: SocketAddr,
    upstream: SocketAddr,
    modsecurity: bool,
) -> anyhow::Result<String> {
    let module = if modsecurity {
        for needed in [MODSECURITY_MODULE, CRS_RULES, CRS_ETC] {
            if !Path::new(needed).exists() {
                bail!("{needed} is missing: run loadtest/scripts/setup.sh");
            }
        }
        std::fs::write(dir.join("modsecurity.conf"), modsecurity_rules(dir))?;
        std::fs::create_dir_all(dir.join("modsec-tmp"))?;
        Some(MODSECURITY_MODULE)
    } else {
        None
    };
    let mut text = preamble(dir, module);
    text.push_str("http {\n");
    text.push_str(&http_common(dir));
    let _ = writeln!(
        text,
        "  upstream site {{ server {upstream}; keepalive 128; }}"
    );
    let _ = writeln!(text, "  server {{\n    listen {listen};");
    if modsecurity {
        let _ = writeln!(
            text,
            "    modsecurity on;\n    modsecurity_rules_file {}/modsecurity.conf;",
            dir.display()
        );
    }
    text.push_str(
        "    location / {\n      proxy_pass http://site;\n      proxy_http_version 1.1;\n\
         \x20     proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n\
         \x20     proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
         \x20     proxy_set_header X-Real-IP $remote_addr;\n    }\n  }\n}\n",
    );
    Ok(text)
}

/// ModSecurity's engine settings (those of its recommended configuration, blocking) and the
/// CRS at its defaults (paranoia level 1, anomaly threshold 5). The audit log is off, which
/// favours ModSecurity: production set-ups usually log relevant transactions.
fn modsecurity_rules(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "SecRuleEngine On\nSecRequestBodyAccess On\nSecRequestBodyLimit 13107200\n\
         SecRequestBodyNoFilesLimit 131072\nSecRequestBodyLimitAction Reject\n\
         SecPcreMatchLimit 1000\nSecPcreMatchLimitRecursion 1000\n\
         SecResponseBodyAccess On\nSecResponseBodyMimeType text/plain text/html text/xml\n\
         SecResponseBodyLimit 524288\nSecResponseBodyLimitAction ProcessPartial\n\
         SecTmpDir {dir}/modsec-tmp\nSecDataDir {dir}/modsec-tmp\nSecAuditEngine Off\n\
         SecArgumentSeparator &\nSecCookieFormat 0\nSecStatusEngine Off\n\
         Include {CRS_ETC}/crs-setup.conf\n\
         Include {CRS_ETC}/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf\n\
         Include {CRS_RULES}/*.conf\n\
         Include {CRS_ETC}/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf\n"
    )
}

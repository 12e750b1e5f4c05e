//! The servers a measurement needs, started on loopback ports with configurations generated
//! into a temporary directory: the static upstream (nginx), rapsheet, plain nginx as a
//! proxy, and nginx with ModSecurity and the OWASP CRS.
//!
//! Every server is pinned to the CPUs asked for, dies with this process (PR_SET_PDEATHSIG),
//! and is stopped when its handle is dropped, so no run leaves a server behind.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::procstat;
use crate::site;

/// Pingora's upgrade socket, which rapsheet leaves at its default: a process started with
/// `--upgrade` listens here for the listening sockets of the process it replaces.
pub const UPGRADE_SOCKET: &str = "/tmp/pingora_upgrade.sock";

/// A loopback address whose port was free a moment ago.
pub fn free_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A started server process.
pub struct Server {
    name: String,
    child: Child,
    stop_signal: i32,
    /// Where it listens.
    pub address: SocketAddr,
}

impl Server {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process and its children (nginx workers).
    pub fn pids(&self) -> Vec<u32> {
        procstat::tree(self.pid())
    }

    /// Sends `signal` to the process, unless it has already exited (its pid may be reused).
    pub fn signal(&mut self, signal: i32) {
        if self.exited().is_none() {
            // SAFETY: kill only sends a signal, to the process this handle started and has
            // not yet reaped.
            unsafe { libc::kill(self.child.id() as i32, signal) };
        }
    }

    /// The exit status once the process has exited, without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stop_now(&mut self) {
        if self.exited().is_some() {
            return;
        }
        self.signal(self.stop_signal);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop in 5 s; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Pins the current process to `cpus`.
///
/// # Errors
///
/// Fails when the kernel refuses the mask.
pub fn pin(cpus: &[usize]) -> io::Result<()> {
    if cpus.is_empty() {
        return Ok(());
    }
    // SAFETY: the set is a plain bit mask initialised by CPU_ZERO before use.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Starts `command` pinned to `cpus`, its output going to `log`, and waits until `address`
/// accepts connections.
fn spawn(
    name: &str,
    command: Command,
    cpus: Vec<usize>,
    log: &Path,
    address: SocketAddr,
    stop_signal: i32,
) -> anyhow::Result<Server> {
    let mut server = start(name, command, cpus, log, address, stop_signal)?;
    wait_for_port(&mut server, log)?;
    Ok(server)
}

/// Starts `command` pinned to `cpus`, its output going to `log`, without waiting for it.
fn start(
    name: &str,
    mut command: Command,
    cpus: Vec<usize>,
    log: &Path,
    address: SocketAddr,
    stop_signal: i32,
) -> anyhow::Result<Server> {
    let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // SAFETY: only async-signal-safe calls (prctl, sched_setaffinity) run in the child.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            pin(&cpus)
        });
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    Ok(Server {
        name: name.to_string(),
        child,
        stop_signal,
        address,
    })
}

fn wait_for_port(server: &mut Server, log: &Path) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        if TcpStream::connect_timeout(&server.address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            let output = fs::read_to_string(log).unwrap_or_default();
            bail!(
                "{} exited with {status} before listening:\n{output}",
                server.name
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "{} did not listen on {} within 15 s",
        server.name,
        server.address
    )
}

/// The temporary directory of one run and the servers' settings.
pub struct Lab {
    /// Where configurations, logs and the site's files go.
    pub dir: PathBuf,
    /// The repository's `conf/` directory, copied for each rapsheet started.
    pub conf: PathBuf,
    /// The rapsheet binary.
    pub rapsheet: PathBuf,
    /// CPUs of the server under test.
    pub server_cpus: Vec<usize>,
    /// CPUs of the upstream (shared with the generator).
    pub upstream_cpus: Vec<usize>,
    started: usize,
}

impl Lab {
    /// A lab in a fresh temporary directory.
    ///
    /// # Errors
    ///
    /// Fails when the directory cannot be created.
    pub fn new(rapsheet: PathBuf, conf: PathBuf, server_cpus: Vec<usize>) -> anyhow::Result<Lab> {
        let dir = std::env::temp_dir().join(format!("rapsheet-load-{}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Lab {
            dir,
            conf,
            rapsheet,
            server_cpus,
            upstream_cpus: Vec::new(),
            started: 0,
        })
    }

    fn next_dir(&mut self, kind: &str) -> anyhow::Result<PathBuf> {
        self.started += 1;
        let dir = self.dir.join(format!("{kind}-{}", self.started));
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Starts the static upstream: nginx, one worker, serving the test site.
    ///
    /// # Errors
    ///
    /// Fails when nginx is missing or does not start.
    pub fn upstream(&mut self) -> anyhow::Result<Server> {
        let dir = self.next_dir("upstream")?;
        let root = dir.join("site");
        site::write_docroot(&root)?;
        let address = free_port()?;
        let config = crate::nginx::upstream_config(&dir, &root, address);
        let file = dir.join("nginx.conf");
        fs::write(&file, config)?;
        let command = crate::nginx::command(&dir, &file);
        let cpus = self.upstream_cpus.clone();
        spawn(
            "upstream nginx",
            command,
            cpus,
            &dir.join("out.log"),
            address,
            libc::SIGTERM,
        )
    }

    /// Starts nginx proxying to `upstream`, with ModSecurity and the CRS when `modsecurity`.
    ///
    /// # Errors
    ///
    /// Fails when nginx (or its ModSecurity module) is missing or does not start.
    pub fn nginx_proxy(
        &mut self,
        upstream: SocketAddr,
        modsecurity: bool,
    ) -> anyhow::Result<Server> {
        let dir = self.next_dir(if modsecurity { "modsecurity" } else { "nginx" })?;
        let address = free_port()?;
        let config = crate::nginx::proxy_config(&dir, address, upstream, modsecurity)?;
        let file = dir.join("nginx.conf");
        fs::write(&file, config)?;
        let command = crate::nginx::command(&dir, &file);
        let name = if modsecurity {
            "nginx+modsecurity"
        } else {
            "nginx"
        };
        let cpus = self.server_cpus.clone();
        spawn(
            name,
            command,
            cpus,
            &dir.join("out.log"),
            address,
            libc::SIGTERM,
        )
    }

    /// Starts rapsheet proxying to `upstream`.
    ///
    /// # Errors
    ///
    /// Fails when the configuration cannot be written or rapsheet does not start.
    pub fn rapsheet(
        &mut self,
        upstream: SocketAddr,
        options: &crate::rapsheet::Options,
    ) -> anyhow::Result<crate::rapsheet::Running> {
        let dir = self.next_dir("rapsheet")?;
        // The log stays out of the watched policy directory: its writes are not policy edits.
        let files =
            crate::rapsheet::write_config(&dir.join("conf"), &self.conf, upstream, options)?;
        let mut command = Command::new(&self.rapsheet);
        command.arg("serve").arg("--config").arg(&files.config);
        command.env("RUST_LOG", &options.log_filter);
        let cpus = self.server_cpus.clone();
        let log = dir.join("out.log");
        // SIGINT is rapsheet's fast shutdown: held tarpits end at once.
        let server = spawn("rapsheet", command, cpus, &log, files.listen, libc::SIGINT)?;
        Ok(crate::rapsheet::Running { server, files })
    }

    /// Starts a second rapsheet on the configuration of `running` with `--upgrade`, to take
    /// over its listening sockets, and returns at once: the new process then waits for the
    /// old one on Pingora's upgrade socket (`UPGRADE_SOCKET`) for about five seconds.
    ///
    /// # Errors
    ///
    /// Fails when the process cannot be started.
    pub fn rapsheet_upgrade(
        &mut self,
        running: &crate::rapsheet::Running,
        options: &crate::rapsheet::Options,
    ) -> anyhow::Result<Server> {
        let dir = self.next_dir("rapsheet-upgrade")?;
        let mut command = Command::new(&self.rapsheet);
        command
            .arg("serve")
            .arg("--config")
            .arg(&running.files.config);
        command.arg("--upgrade");
        command.env("RUST_LOG", &options.log_filter);
        let cpus = self.server_cpus.clone();
        let log = dir.join("out.log");
        let listen = running.files.listen;
        start("new rapsheet", command, cpus, &log, listen, libc::SIGINT)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::env::var_os("RAPSHEET_LOAD_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

//! The load runner: groups of connections, each working through its workload's sessions
//! until a deadline, on one single-threaded runtime. Connections of a group start spread over
//! a ramp, so a few thousand of them do not arrive as one SYN flood.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

use crate::http::{Conn, Failure, Reply};
use crate::rng::Rng;
use crate::stats::ClassStats;
use crate::workload::{Session, Workload};

/// One group of connections with one workload.
pub struct Group {
    /// Connections open at once.
    pub connections: usize,
    /// What they ask for.
    pub workload: Workload,
    /// Connections start evenly over this long.
    pub ramp: Duration,
}

/// What happened to one scanner address: requests forwarded before the first refusal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Track {
    /// Requests that were answered by the upstream before the address was first refused.
    pub forwarded: u64,
    /// Whether the address was refused (403, 429, or a dropped connection) at all.
    pub refused: bool,
}

/// Scanner addresses and their tracks.
pub type Tracks = Rc<RefCell<HashMap<u32, Track>>>;

/// Settings shared by all groups of a run.
#[derive(Clone)]
pub struct Settings {
    /// The proxy.
    pub target: SocketAddr,
    /// How long an ordinary request may take.
    pub request_timeout: Duration,
    /// Seed of the first connection; the others follow from it.
    pub seed: u64,
    /// When set, each connection sends at most one request per this interval (an offered
    /// load below saturation, where latency is the proxy's own and not queueing).
    pub pace: Option<Duration>,
    /// Replace a keep-alive connection the server closed between requests as a browser does,
    /// instead of counting a failure (see `Connection::exchange`).
    pub reconnect_stale: bool,
}

/// A running group; `finish` waits for its connections and adds up their counts.
pub struct Running {
    tasks: Vec<JoinHandle<ClassStats>>,
    stop: watch::Sender<bool>,
}

impl Running {
    /// True once every connection has ended (the workload is used up or the deadline passed).
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(JoinHandle::is_finished)
    }

    /// Ends every connection now, even one waiting for a held answer.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for every connection (they stop at the deadline) and merges their counts.
    pub async fn finish(self) -> ClassStats {
        let mut total = ClassStats::default();
        for task in self.tasks {
            if let Ok(stats) = task.await {
                total.merge(&stats);
            }
        }
        total
    }
}

/// Starts `group` on the current `LocalSet`; its connections stop at `deadline`.
pub fn start(group: Group, settings: &Settings, deadline: Instant, tracks: &Tracks) -> Running {
    let workload = Rc::new(group.workload);
    let (stop, stopped) = watch::channel(false);
    let spacing = group.ramp / group.connections.max(1) as u32;
    let tasks = (0..group.connections)
        .map(|index| {
            let connection = Connection {
                workload: Rc::clone(&workload),
                settings: settings.clone(),
                rng: Rng::new(settings.seed.wrapping_add(index as u64 * 7919)),
                deadline,
                tracks: Rc::clone(tracks),
                stats: ClassStats::default(),
                stopped: stopped.clone(),
                next_send: Instant::now(),
            };
            let delay = spacing * index as u32;
            tokio::task::spawn_local(connection.run(delay))
        })
        .collect();
    Running { tasks, stop }
}

/// One connection slot: opens a connection per session, one after another.
struct Connection {
    workload: Rc<Workload>,
    settings: Settings,
    rng: Rng,
    deadline: Instant,
    tracks: Tracks,
    stats: ClassStats,
    stopped: watch::Receiver<bool>,
    next_send: Instant,
}

impl Connection {
    async fn run(mut self, delay: Duration) -> ClassStats {
        let mut stopped = self.stopped.clone();
        tokio::select! {
            _ = self.sessions(delay) => {}
            _ = stopped.wait_for(|stop| *stop) => {}
        }
        self.stats
    }

    async fn sessions(&mut self, delay: Duration) {
        sleep(delay).await;
        while Instant::now() < self.deadline {
            let Some(session) = self.workload.next(&mut self.rng) else {
                break;
            };
            let left = self.deadline.saturating_duration_since(Instant::now());
            // A session cut off by the deadline is not counted as failed.
            let _ = timeout(left, self.session(&session)).await;
        }
    }

    async fn session(&mut self, session: &Session) {
        let mut conn = match Conn::open(self.settings.target, session.source).await {
            Ok(conn) => conn,
            Err(failure) => return self.failed(session, failure).await,
        };
        self.stats.connections += 1;
        for request in &session.requests {
            if let Some(pace) = self.settings.pace {
                self.next_send = self.next_send.max(Instant::now() - pace) + pace;
                tokio::time::sleep_until(self.next_send).await;
            }
            let started = Instant::now();
            let limit = if session.hold {
                Duration::MAX
            } else {
                self.settings.request_timeout
            };
            let reply = match timeout(limit, self.exchange(&mut conn, session, request)).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(failure)) => return self.failed(session, failure).await,
                Err(_) => return self.failed(session, Failure::Timeout).await,
            };
            self.stats.response(reply.status, started.elapsed());
            self.track(session, Some(reply.status));
            if reply.close || Instant::now() >= self.deadline {
                return;
            }
        }
    }

    /// Sends `request` on `conn` and reads the answer. With `reconnect_stale`, a keep-alive
    /// connection the server closed is replaced by a new one, as browsers do: before sending
    /// when the close has already arrived, and once after sending when the server closed
    /// without a byte of answer, which is a request racing the close (RFC 9112, section
    /// 9.3.1, lets a client retry an idempotent request then). Both are counted.
    async fn exchange(
        &mut self,
        conn: &mut Conn,
        session: &Session,
        request: &[u8],
    ) -> Result<Reply, Failure> {
        let reconnect = self.settings.reconnect_stale && conn.reused();
        if reconnect && conn.closed_by_peer() {
            self.stats.idle_reconnects += 1;
            *conn = self.reopen(session).await?;
        }
        let result = conn.exchange(request, session.hold).await;
        let closed = matches!(result, Err(Failure::Reset | Failure::Closed));
        let raced = closed && conn.reused() && conn.unanswered();
        if !(self.settings.reconnect_stale && raced) {
            return result;
        }
        self.stats.unanswered_retries += 1;
        *conn = self.reopen(session).await?;
        conn.exchange(request, session.hold).await
    }

    async fn reopen(&mut self, session: &Session) -> Result<Conn, Failure> {
        let conn = Conn::open(self.settings.target, session.source).await?;
        self.stats.connections += 1;
        Ok(conn)
    }

    /// Counts a failure; a scanner that was dropped has been refused. Connect errors and
    /// dropped scanners back off a little, so a refusing target is not spun against.
    async fn failed(&mut self, session: &Session, failure: Failure) {
        self.stats.failure(failure);
        self.track(session, None);
        let connect = matches!(failure, Failure::ConnectRefused | Failure::ConnectError);
        if connect || session.track.is_some() {
            sleep(Duration::from_millis(20)).await;
        }
    }

    fn track(&self, session: &Session, status: Option<u16>) {
        let Some(index) = session.track else {
            return;
        };
        let mut tracks = self.tracks.borrow_mut();
        let track = tracks.entry(index).or_default();
        match status {
            Some(403) | Some(429) | None => track.refused = true,
            Some(_) if !track.refused => track.forwarded += 1,
            Some(_) => {}
        }
    }
}

//! A minimal HTTP/1.1 client connection: just enough to drive a proxy hard and cheaply from
//! one core. It binds to a chosen source address, keeps the connection alive, writes one
//! request at a time and reads the whole response (Content-Length, chunked, or until close),
//! throwing the body away.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Why an exchange failed, as counted in the reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// Nothing listened, or the connect was refused.
    ConnectRefused,
    /// The connect failed otherwise (address in use, out of ports).
    ConnectError,
    /// The peer reset the connection.
    Reset,
    /// The peer closed before the response was complete.
    Closed,
    /// No complete response within the timeout.
    Timeout,
    /// The response could not be parsed.
    Malformed,
    /// Another IO error.
    Io,
}

impl Failure {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Failure::ConnectRefused => "connect_refused",
            Failure::ConnectError => "connect_error",
            Failure::Reset => "reset",
            Failure::Closed => "closed_early",
            Failure::Timeout => "timeout",
            Failure::Malformed => "malformed",
            Failure::Io => "io",
        }
    }

    fn of_read(error: &io::Error) -> Failure {
        match error.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => Failure::Reset,
            io::ErrorKind::UnexpectedEof => Failure::Closed,
            io::ErrorKind::InvalidData => Failure::Malformed,
            _ => Failure::Io,
        }
    }
}

/// What came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// An open client connection.
pub struct Conn {
    stream: TcpStream,
    buf: ReadBuf,
    /// Complete responses read on this connection.
    answered: u64,
    /// Bytes read since the current request was written.
    received: usize,
}

impl Conn {
    /// Connects to `target`, from `source` when given (any port).
    ///
    /// # Errors
    ///
    /// Fails when the socket cannot be bound or the connect fails.
    pub async fn open(target: SocketAddr, source: Option<Ipv4Addr>) -> Result<Conn, Failure> {
        let socket = TcpSocket::new_v4().map_err(|_| Failure::ConnectError)?;
        if let Some(source) = source {
            socket
                .bind(SocketAddr::from((source, 0)))
                .map_err(|_| Failure::ConnectError)?;
        }
        let stream = socket
            .connect(target)
            .await
            .map_err(|error| match error.kind() {
                io::ErrorKind::ConnectionRefused => Failure::ConnectRefused,
                io::ErrorKind::ConnectionReset => Failure::Reset,
                _ => Failure::ConnectError,
            })?;
        // Requests are small and written whole; Nagle would only add delay.
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: ReadBuf::default(),
            answered: 0,
            received: 0,
        })
    }

    /// True once a response has come back on this connection: a keep-alive connection that
    /// the server may close between requests.
    pub fn reused(&self) -> bool {
        self.answered > 0
    }

    /// True when the last exchange ended without a single byte of its response.
    pub fn unanswered(&self) -> bool {
        self.received == 0
    }

    /// True when the server has already closed (or reset) the connection, seen without
    /// waiting and without taking any byte from the socket.
    pub fn closed_by_peer(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: recv peeks at most one byte into a local, on a socket this handle owns.
        let read = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                std::ptr::addr_of_mut!(byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match read {
            0 => true,
            1.. => false,
            _ => io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// Writes `request` (a complete request head, no body) and reads the response. Unless
    /// `hold` is set, a tarpit's answer (429) ends the exchange at its head, as an impatient
    /// scanner would, and the connection must be dropped.
    ///
    /// # Errors
    ///
    /// Fails on any IO error or a response that cannot be parsed.
    pub async fn exchange(&mut self, request: &[u8], hold: bool) -> Result<Reply, Failure> {
        self.received = 0;
        self.stream
            .write_all(request)
            .await
            .map_err(|error| Failure::of_read(&error))?;
        let reply = self
            .read_response(hold)
            .await
            .map_err(|error| Failure::of_read(&error))?;
        self.answered += 1;
        Ok(reply)
    }

    async fn read_response(&mut self, hold: bool) -> io::Result<Reply> {
        let head = loop {
            if let Some(head) = parse_head(self.buf.available())? {
                break head;
            }
            self.fill().await?;
        };
        self.buf.consume(head.length);
        if head.status == 429 && !hold {
            return Ok(Reply {
                status: head.status,
                close: true,
            });
        }
        match head.body {
            Body::Empty => {}
            Body::Length(length) => self.skip(length).await?,
            Body::Chunked => self.skip_chunked().await?,
            Body::UntilClose => self.skip_to_end().await?,
        }
        Ok(Reply {
            status: head.status,
            close: head.close || head.body == Body::UntilClose,
        })
    }

    /// Reads more bytes; end of stream is an error here.
    async fn fill(&mut self) -> io::Result<()> {
        let spare = self.buf.spare();
        let read = self.stream.read(spare).await?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.end += read;
        self.received += read;
        Ok(())
    }

    async fn skip(&mut self, mut length: u64) -> io::Result<()> {
        loop {
            let taken = length.min(self.buf.available().len() as u64) as usize;
            self.buf.consume(taken);
            length -= taken as u64;
            if length == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    async fn skip_chunked(&mut self) -> io::Result<()> {
        loop {
            let size = self.read_line(parse_chunk_size).await?;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                while self.read_line(|line| Ok(line.len())).await? > 0 {}
                return Ok(());
            }
            self.skip(size + 2).await?;
        }
    }

    async fn skip_to_end(&mut self) -> io::Result<()> {
        loop {
            self.buf.consume(self.buf.available().len());
            if let Err(error) = self.fill().await {
                let ended = error.kind() == io::ErrorKind::UnexpectedEof;
                return if ended { Ok(()) } else { Err(error) };
            }
        }
    }

    /// Reads one CRLF-terminated line and hands it (without the CRLF) to `parse`.
    async fn read_line<T>(&mut self, parse: impl Fn(&[u8]) -> io::Result<T>) -> io::Result<T> {
        loop {
            let available = self.buf.available();
            if let Some(at) = available.windows(2).position(|pair| pair == b"\r\n") {
                let value = parse(&available[..at])?;
                self.buf.consume(at + 2);
                return Ok(value);
            }
            self.fill().await?;
        }
    }
}

/// How the body of a response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
struct Head {
    length: usize,
    status: u16,
    close: bool,
    body: Body,
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// Parses a response head from the start of `bytes`; `None` while it is incomplete.
fn parse_head(bytes: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(bad("malformed response head")),
    };
    let status = response.code.unwrap_or(0);
    let mut close = response.version == Some(0);
    let mut body = Body::UntilClose;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).map_err(|_| bad("content-length"))?;
            body = Body::Length(text.trim().parse().map_err(|_| bad("content-length"))?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            body = Body::Chunked;
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        }
    }
    if status == 204 || status == 304 || status < 200 {
        body = Body::Empty;
    }
    Ok(Some(Head {
        length,
        status,
        close,
        body,
    }))
}

fn parse_chunk_size(line: &[u8]) -> io::Result<u64> {
    let digits = line.split(|&byte| byte == b';').next().unwrap_or(b"");
    let text = std::str::from_utf8(digits).map_err(|_| bad("chunk size"))?;
    u64::from_str_radix(text.trim(), 16).map_err(|_| bad("chunk size"))
}

/// A read buffer that is compacted instead of grown in the common case.
struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf {
            data: vec![0; 16 * 1024],
            start: 0,
            end: 0,
        }
    }
}

impl ReadBuf {
    fn available(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    fn consume(&mut self, count: usize) {
        self.start += count;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room to read into: moves unread bytes to the front, and grows only when a single
    /// response head or chunk line fills the whole buffer.
    fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.data.len() {
            self.data.resize(self.data.len() * 2, 0);
        }
        &mut self.data[self.end..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_framed_by_their_headers() {
        let head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nbody")
            .unwrap()
            .unwrap();
        assert_eq!(
            (head.status, head.body, head.close),
            (200, Body::Length(12), false)
        );
        let head = parse_head(
            b"HTTP/1.1 429 X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!((head.body, head.close), (Body::Chunked, true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
            .unwrap()
            .is_none());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(parse_chunk_size(b"1a").unwrap(), 26);
        assert_eq!(parse_chunk_size(b"0;name=value").unwrap(), 0);
        assert!(parse_chunk_size(b"zz").is_err());
    }
}

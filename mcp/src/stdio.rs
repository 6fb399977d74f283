//! stdin and stdout as the async streams of the stdio transport.
//!
//! tokio's `stdin()` and `stdout()` (what `rmcp::transport::stdio()` uses) hand every
//! read and every write to a blocking thread: two thread hand-offs per message, most of
//! a trivial call's time on the server side. MCP clients give a server pipes (Python,
//! Rust, Go) or Unix sockets (Node's child processes), which the runtime's own event
//! loop can read and write directly; those are used that way. Anything else (a
//! terminal, a file) falls back to tokio's blocking streams.
//!
//! Polling a pipe needs it non-blocking, which is a flag of the open file the server
//! shares with whoever else holds that end: in practice nobody (the client holds the
//! other end), and the server reads and writes nothing else through it.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// The read side of the transport.
pub type Reader = Pin<Box<dyn AsyncRead + Send>>;
/// The write side of the transport.
pub type Writer = Pin<Box<dyn AsyncWrite + Send>>;

/// This process's stdin and stdout, read and written by the event loop when they are
/// pipes or sockets. Needs a Tokio runtime with I/O enabled.
pub fn stdio() -> (Reader, Writer) {
    let reader = event_loop_reader().unwrap_or_else(|| Box::pin(tokio::io::stdin()));
    let writer = event_loop_writer().unwrap_or_else(|| Box::pin(tokio::io::stdout()));
    (reader, writer)
}

/// What kind of file a descriptor is, as far as the event loop cares.
enum Kind {
    Pipe,
    Socket,
    Other,
}

/// A duplicate of the descriptor (the original stays open for the rest of the process)
/// and its kind.
fn duplicate(fd: impl AsFd) -> Option<(OwnedFd, Kind)> {
    let owned = fd.as_fd().try_clone_to_owned().ok()?;
    let file_type = std::fs::File::from(owned.try_clone().ok()?)
        .metadata()
        .ok()?
        .file_type();
    let kind = if file_type.is_fifo() {
        Kind::Pipe
    } else if file_type.is_socket() {
        Kind::Socket
    } else {
        Kind::Other
    };
    Some((owned, kind))
}

fn event_loop_reader() -> Option<Reader> {
    let (fd, kind) = duplicate(std::io::stdin())?;
    match kind {
        Kind::Pipe => Some(Box::pin(
            tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok()?,
        )),
        Kind::Socket => Some(Box::pin(unix_stream(fd)?)),
        Kind::Other => None,
    }
}

fn event_loop_writer() -> Option<Writer> {
    let (fd, kind) = duplicate(std::io::stdout())?;
    match kind {
        Kind::Pipe => Some(Box::pin(
            tokio::net::unix::pipe::Sender::from_owned_fd(fd).ok()?,
        )),
        Kind::Socket => Some(Box::pin(unix_stream(fd)?)),
        Kind::Other => None,
    }
}

/// A stream socket; `None` for a datagram socket or one the runtime refuses.
fn unix_stream(fd: OwnedFd) -> Option<tokio::net::UnixStream> {
    let std_stream = std::os::unix::net::UnixStream::from(fd);
    std_stream.set_nonblocking(true).ok()?;
    tokio::net::UnixStream::from_std(std_stream).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn pipes_and_sockets_are_read_by_the_event_loop() {
        let (read_end, write_end) = std::io::pipe().unwrap();
        let (fd, kind) = duplicate(&read_end).unwrap();
        assert!(matches!(kind, Kind::Pipe));
        let mut reader = tokio::net::unix::pipe::Receiver::from_owned_fd(fd).unwrap();
        let (fd, kind) = duplicate(&write_end).unwrap();
        assert!(matches!(kind, Kind::Pipe));
        let mut writer = tokio::net::unix::pipe::Sender::from_owned_fd(fd).unwrap();
        writer.write_all(b"hello\n").await.unwrap();
        let mut buf = [0u8; 6];
        reader.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello\n");

        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (fd, kind) = duplicate(&a).unwrap();
        assert!(matches!(kind, Kind::Socket));
        let mut a = unix_stream(fd).unwrap();
        let (fd, _) = duplicate(&b).unwrap();
        let mut b = unix_stream(fd).unwrap();
        a.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");

        let file = tempfile::tempfile().unwrap();
        assert!(matches!(duplicate(&file).unwrap().1, Kind::Other));
    }
}

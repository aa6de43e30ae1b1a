//! An SMTP server on 127.0.0.1 that accepts every message and keeps it, for tests that read the
//! e-mails the gateway really sends (RFC 5321: greeting, EHLO/HELO, MAIL, RCPT, DATA with dot
//! stuffing, RSET, NOOP, QUIT). Messages are parsed with `mail-parser`, so tests read decoded
//! subjects and bodies whatever transfer encoding the sender chose.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct CaughtMail {
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

impl CaughtMail {
    pub fn subject(&self) -> String {
        let parsed = mail_parser::MessageParser::default().parse(&self.raw);
        parsed
            .and_then(|message| message.subject().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The decoded plain-text body.
    pub fn text(&self) -> String {
        let parsed = mail_parser::MessageParser::default().parse(&self.raw);
        parsed
            .and_then(|message| message.body_text(0).map(|text| text.into_owned()))
            .unwrap_or_default()
    }

    /// A header's raw value (`Content-Language`, say).
    pub fn header(&self, name: &str) -> Option<String> {
        let parsed = mail_parser::MessageParser::default().parse(&self.raw)?;
        parsed.header_raw(name).map(|value| value.trim().to_owned())
    }

    /// The first link in the body that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let text = self.text();
        let start = text.find(prefix)?;
        let link: String = text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '"')
            .collect();
        Some(link)
    }
}

pub struct SmtpCatcher {
    addr: SocketAddr,
    caught: Arc<Mutex<Vec<CaughtMail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpCatcher {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("an address")).await
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let caught = Arc::new(Mutex::new(Vec::new()));
        let kept = caught.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, kept.clone()));
            }
        });
        Ok(Self { addr, caught, task })
    }

    /// `smtp://127.0.0.1:<port>`, as `SMTP_URL` takes it.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn messages(&self) -> Vec<CaughtMail> {
        self.caught.lock().clone()
    }

    /// The messages sent to `to`, waiting up to five seconds for at least `count`.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<CaughtMail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found: Vec<_> = self
                .messages()
                .into_iter()
                .filter(|mail| mail.to.iter().any(|rcpt| rcpt.eq_ignore_ascii_case(to)))
                .collect();
            if found.len() >= count || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl SmtpCatcher {
    /// Serves what was caught as JSON at `GET /messages` (`from`, `to`, `subject`, `text`), for
    /// browser tests that follow the links.
    pub async fn serve_mailbox(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let caught = self.caught.clone();
        let app = axum::Router::new().route(
            "/messages",
            axum::routing::get(move || {
                let caught = caught.clone();
                async move {
                    let messages: Vec<serde_json::Value> = caught
                        .lock()
                        .iter()
                        .map(|mail| {
                            serde_json::json!({"from": mail.from, "to": mail.to,
                                "subject": mail.subject(), "text": mail.text()})
                        })
                        .collect();
                    axum::Json(messages)
                }
            }),
        );
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(bound)
    }
}

impl Drop for SmtpCatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `<a@b>` (with optional parameters after it) → `a@b`.
fn path(argument: &str) -> String {
    let argument = argument.trim();
    let inner = argument
        .strip_prefix('<')
        .and_then(|rest| rest.split_once('>'))
        .map_or(argument, |(inside, _)| inside);
    inner.to_owned()
}

async fn session(stream: tokio::net::TcpStream, caught: Arc<Mutex<Vec<CaughtMail>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if write
        .write_all(b"220 smtp-catcher ESMTP ready\r\n")
        .await
        .is_err()
    {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-smtp-catcher\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n",
            "HELO" => b"250 smtp-catcher\r\n",
            "MAIL" => {
                from = path(command.get(10..).unwrap_or(""));
                to.clear();
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" => {
                to.push(path(command.get(8..).unwrap_or("")));
                b"250 2.1.5 OK\r\n"
            }
            "DATA" => {
                if write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut raw = Vec::new();
                loop {
                    let mut data_line = Vec::new();
                    match lines.read_until(b'\n', &mut data_line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if data_line == b".\r\n" || data_line == b".\n" {
                        break;
                    }
                    // Dot stuffing: a leading dot was doubled by the sender.
                    let unstuffed = data_line.strip_prefix(b".").unwrap_or(&data_line);
                    raw.extend_from_slice(unstuffed);
                }
                caught.lock().push(CaughtMail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    raw,
                });
                b"250 2.0.0 OK: queued\r\n"
            }
            "RSET" => {
                from.clear();
                to.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                return;
            }
            _ => b"502 5.5.2 Command not implemented\r\n",
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_their_brackets_and_parameters() {
        assert_eq!(path("<a@example.com> BODY=8BITMIME"), "a@example.com");
        assert_eq!(path("b@example.com"), "b@example.com");
    }
}

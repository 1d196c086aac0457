//! A minimal QMP client over the instance's unix socket: greeting, capabilities
//! negotiation, commands (events arriving in between are kept) and waiting for an event.
//! One connection per driver operation; operations on one instance are serialized by
//! the driver, so the single-client QMP monitor is never contended by us.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::time::{timeout, Instant};

/// Why a QMP exchange failed (the driver adds the instance and command).
#[derive(Debug)]
pub struct QmpFailure(pub String);

/// An open QMP session.
pub struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    events: Vec<Value>,
    io_timeout: Duration,
}

impl Qmp {
    /// Connect, read the greeting and leave negotiation mode.
    pub async fn connect(path: &Path, io_timeout: Duration) -> Result<Self, QmpFailure> {
        let stream = timeout(io_timeout, UnixStream::connect(path))
            .await
            .map_err(|_| QmpFailure(format!("connect to {} timed out", path.display())))?
            .map_err(|e| QmpFailure(format!("connect to {}: {e}", path.display())))?;
        let (r, w) = stream.into_split();
        let mut q = Qmp {
            reader: BufReader::new(r),
            writer: w,
            events: Vec::new(),
            io_timeout,
        };
        let greeting = q.read_message().await?;
        if greeting.get("QMP").is_none() {
            return Err(QmpFailure(format!("unexpected greeting {greeting}")));
        }
        q.execute("qmp_capabilities", None).await?;
        Ok(q)
    }

    async fn read_message(&mut self) -> Result<Value, QmpFailure> {
        let mut line = String::new();
        let n = timeout(self.io_timeout, self.reader.read_line(&mut line))
            .await
            .map_err(|_| QmpFailure("timed out reading from QMP".to_string()))?
            .map_err(|e| QmpFailure(format!("read: {e}")))?;
        if n == 0 {
            return Err(QmpFailure("QMP connection closed".to_string()));
        }
        serde_json::from_str(&line).map_err(|e| QmpFailure(format!("bad QMP message: {e}")))
    }

    /// Run a command; its `return` value, or its `error.desc`.
    pub async fn execute(
        &mut self,
        command: &str,
        args: Option<Value>,
    ) -> Result<Value, QmpFailure> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = args {
            msg["arguments"] = a;
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(b'\n');
        timeout(self.io_timeout, self.writer.write_all(&bytes))
            .await
            .map_err(|_| QmpFailure("timed out writing to QMP".to_string()))?
            .map_err(|e| QmpFailure(format!("write: {e}")))?;
        loop {
            let m = self.read_message().await?;
            if m.get("event").is_some() {
                self.events.push(m);
                continue;
            }
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                let desc = e
                    .get("desc")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                return Err(QmpFailure(desc.to_string()));
            }
            return Err(QmpFailure(format!("unexpected QMP message {m}")));
        }
    }

    /// `query-status`: the run state (`running`, `paused`, `shutdown`...).
    pub async fn status(&mut self) -> Result<String, QmpFailure> {
        let r = self.execute("query-status", None).await?;
        r.get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| QmpFailure(format!("query-status returned {r}")))
    }

    /// Wait for an event named `name` whose data satisfies `pred` (events received
    /// before the call count too).
    pub async fn wait_event(
        &mut self,
        name: &str,
        pred: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Result<Value, QmpFailure> {
        let matches = |m: &Value| {
            m.get("event").and_then(Value::as_str) == Some(name)
                && pred(m.get("data").unwrap_or(&Value::Null))
        };
        if let Some(i) = self.events.iter().position(matches) {
            return Ok(self.events.remove(i));
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(QmpFailure(format!("no {name} event within {within:?}")));
            }
            let mut line = String::new();
            match timeout(left, self.reader.read_line(&mut line)).await {
                Err(_) => continue,
                Ok(Err(e)) => return Err(QmpFailure(format!("read: {e}"))),
                Ok(Ok(0)) => return Err(QmpFailure("QMP connection closed".to_string())),
                Ok(Ok(_)) => {
                    let m: Value = serde_json::from_str(&line)
                        .map_err(|e| QmpFailure(format!("bad QMP message: {e}")))?;
                    if matches(&m) {
                        return Ok(m);
                    }
                }
            }
        }
    }
}

//! Typed command lines: a program plus an argument vector, run without a shell. The
//! builders in `net`, `nft` and `dhcp` produce these so their arguments are unit-tested
//! without root.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{HostError, Result};

/// A program and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    /// The program (looked up in `PATH`).
    pub program: String,
    /// Its arguments, one element each.
    pub args: Vec<String>,
}

impl Cmd {
    /// A command with no arguments yet.
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
        }
    }

    /// `ip` (with `-n <ns>` when a namespace is given).
    pub fn ip(ns: Option<&str>) -> Self {
        let c = Cmd::new("ip");
        match ns {
            Some(ns) => c.args(["-n", ns]),
            None => c,
        }
    }

    /// `ip netns exec <ns> <program>`, or `<program>` alone in the current namespace.
    pub fn in_netns(ns: Option<&str>, program: &str) -> Self {
        match ns {
            Some(ns) => Cmd::new("ip").args(["netns", "exec", ns, program]),
            None => Cmd::new(program),
        }
    }

    /// Append one argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, a: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// The command line for messages (not for execution).
    pub fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// Run to completion; stdout on success, a `Command` error with stderr otherwise.
    pub fn run(&self) -> Result<String> {
        self.run_with_input(None)
    }

    /// Run to completion and return the exit status and both outputs whatever the
    /// status (for commands whose failures need reading, like `conntrack -D`).
    pub fn output(&self) -> Result<std::process::Output> {
        tracing::debug!(command = %self.display(), "running host command");
        Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| HostError::Spawn {
                command: self.display(),
                source,
            })
    }

    /// Run with `input` on stdin.
    pub fn run_with_input(&self, input: Option<&[u8]>) -> Result<String> {
        tracing::debug!(command = %self.display(), "running host command");
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HostError::Spawn {
                command: self.display(),
                source,
            })?;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(data).map_err(|source| HostError::Spawn {
                command: self.display(),
                source,
            })?;
        }
        let out = child
            .wait_with_output()
            .map_err(|source| HostError::Spawn {
                command: self.display(),
                source,
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(HostError::Command {
                command: self.display(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}

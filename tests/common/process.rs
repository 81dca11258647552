//! Child processes that cannot outlive their test: output captured line by line, killed and
//! reaped when the guard drops, and the output printed if that happens during a panic.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Lines a process wrote to stdout and stderr, in arrival order. Reader threads keep filling
/// it for as long as the process lives, so nothing it writes can block it.
#[derive(Clone, Debug, Default)]
pub struct Output(Arc<Mutex<Captured>>);

#[derive(Debug, Default)]
struct Captured {
    lines: Vec<String>,
    /// Streams still being read; 0 once the process closed them all.
    open: usize,
}

impl Output {
    fn lock(&self) -> MutexGuard<'_, Captured> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `stream` line by line into this buffer, on its own thread, until EOF.
    fn drain(&self, stream: impl Read + Send + 'static) {
        self.lock().open += 1;
        let output = self.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line)
                            .trim_end_matches(['\r', '\n'])
                            .to_owned();
                        output.lock().lines.push(text);
                    }
                }
            }
            output.lock().open -= 1;
        });
    }

    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// The first line so far for which `matches` is true.
    pub fn find(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        self.lock().lines.iter().find(|line| matches(line)).cloned()
    }

    /// Waits up to `timeout` for a line for which `matches` is true.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.find(&matches) {
                return Some(line);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (briefly) until every stream hit EOF, so the last words of a process that has
    /// exited are in the buffer before it is shown.
    fn wait_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.lock().open > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A running child process. Dropping it kills (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    output: Output,
}

impl Process {
    /// Starts `command` with stdin closed and stdout and stderr captured into [`Output`].
    pub fn spawn(name: &str, mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        let output = Output::default();
        output.drain(child.stdout.take().expect("stdout is piped"));
        output.drain(child.stderr.take().expect("stderr is piped"));
        Self {
            name: name.to_owned(),
            child,
            output,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn output(&self) -> &Output {
        &self.output
    }

    /// The exit status, if the process has ended (it is reaped then).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        if status.is_some() {
            self.output.wait_closed(Duration::from_secs(1));
        }
        status
    }

    /// Waits up to `timeout` for an output line for which `matches` is true; panics, with
    /// everything the process wrote, if it exits or the time runs out first. `what` names the
    /// line in that message.
    pub async fn wait_for_line(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.output.find(&matches) {
                return line;
            }
            if let Some(status) = self.exit_status() {
                panic!(
                    "{} (pid {}) exited ({status}) before {what}; its output:\n{}",
                    self.name,
                    self.pid(),
                    self.output.text()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} (pid {}) did not print {what} within {timeout:?}; its output:\n{}",
                    self.name,
                    self.pid(),
                    self.output.text()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Kills the process (SIGKILL) unless it has already ended, and reaps it. Idempotent.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            self.output.wait_closed(Duration::from_secs(1));
            eprintln!(
                "----- {} (pid {}) output -----\n{}\n----- end of {} output -----",
                self.name,
                self.pid(),
                self.output.text(),
                self.name
            );
        }
    }
}

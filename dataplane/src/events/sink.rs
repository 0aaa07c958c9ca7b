//! Where event lines end up: standard output, or a file rotated by size and
//! age (`events.log` → `events.log.1` → … → `events.log.KEEP`) and reopened
//! on request (SIGUSR1, for logrotate's rename-then-signal).
//!
//! Only the writer thread uses a sink. It hands over whole lines; the file
//! sink keeps them whole: a file is rotated only between lines, and a write
//! that fails half-way (a full disk) is cut back to the last complete line,
//! so a line is never split or half-written, before or after recovery.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::SinkKind;

/// Rotation settings of a file sink.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// Rotate before a write would take the file past this size (0: never).
    pub bytes: u64,
    /// Rotate a non-empty file this long after it was opened.
    pub every: Option<Duration>,
    /// Rotated files kept (0: the old file is deleted).
    pub keep: u32,
}

pub struct Sink {
    kind: SinkKind,
    rotation: Rotation,
    file: Option<File>,
    /// Size of the open file (what we know we wrote, plus what was there).
    size: u64,
    opened: Instant,
    /// The path is a regular file. A character device (`/dev/null`), a FIFO
    /// or a socket is written to but never rotated or truncated: renaming
    /// `/dev/null` to `/dev/null.1` would replace the device with a file.
    regular: bool,
}

/// Opens `path` for appending, creating it (mode 0640) if needed.
fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

/// `events.log` + `.N`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl Sink {
    pub fn open(kind: &SinkKind, rotation: Rotation) -> io::Result<Sink> {
        let mut s = Sink {
            kind: kind.clone(),
            rotation,
            file: None,
            size: 0,
            opened: Instant::now(),
            regular: true,
        };
        s.reopen()?;
        Ok(s)
    }

    /// Closes and reopens the file (after an outside rename, or to retry
    /// after an error); a no-op for stdout.
    pub fn reopen(&mut self) -> io::Result<()> {
        let SinkKind::File(path) = &self.kind else {
            return Ok(());
        };
        self.file = None;
        let f = open_append(path)?;
        let meta = f.metadata()?;
        self.regular = meta.file_type().is_file();
        self.size = if self.regular { meta.len() } else { 0 };
        self.file = Some(f);
        self.opened = Instant::now();
        Ok(())
    }

    /// Whether the file is due for rotation by age.
    pub fn rotation_due(&self) -> bool {
        self.regular
            && self.file.is_some()
            && self.size > 0
            && self
                .rotation
                .every
                .is_some_and(|e| self.opened.elapsed() >= e)
    }

    /// Shifts the numbered files up by one, moves the current file to `.1`
    /// and opens a fresh one.
    pub fn rotate(&mut self) -> io::Result<()> {
        let SinkKind::File(path) = &self.kind else {
            return Ok(());
        };
        if !self.regular {
            return Ok(());
        }
        let path = path.clone();
        self.file = None;
        let keep = self.rotation.keep;
        if keep == 0 {
            remove_if_present(&path)?;
        } else {
            remove_if_present(&numbered(&path, keep))?;
            for n in (1..keep).rev() {
                rename_if_present(&numbered(&path, n), &numbered(&path, n + 1))?;
            }
            rename_if_present(&path, &numbered(&path, 1))?;
        }
        self.reopen()
    }

    /// Writes whole lines. On failure returns how many bytes (whole lines)
    /// were written before it and the error; nothing partial is left behind.
    pub fn write_lines(&mut self, mut buf: &[u8]) -> Result<(), (usize, io::Error)> {
        if matches!(self.kind, SinkKind::Stdout) {
            return write_stdout(buf, STDOUT_WAIT);
        }
        let mut done = 0;
        while !buf.is_empty() {
            if self.file.is_none() {
                self.reopen().map_err(|e| (done, e))?;
            }
            let limit = if self.regular { self.rotation.bytes } else { 0 };
            let take = if limit == 0 || self.size + buf.len() as u64 <= limit {
                buf.len()
            } else {
                let room = limit.saturating_sub(self.size) as usize;
                match memchr::memrchr(b'\n', &buf[..room.min(buf.len())]) {
                    Some(i) => i + 1,
                    None if self.size > 0 => {
                        // Not even one line fits: start the next file.
                        self.rotate().map_err(|e| (done, e))?;
                        continue;
                    }
                    // A line longer than the limit goes alone into a new file.
                    None => memchr::memchr(b'\n', buf).map_or(buf.len(), |i| i + 1),
                }
            };
            self.write_file(&buf[..take]).map_err(|e| (done, e))?;
            done += take;
            buf = &buf[take..];
            if limit > 0 && self.size >= limit && !buf.is_empty() {
                self.rotate().map_err(|e| (done, e))?;
            }
        }
        if self.regular && self.rotation.bytes > 0 && self.size >= self.rotation.bytes {
            self.rotate().map_err(|e| (done, e))?;
        }
        Ok(())
    }

    fn write_file(&mut self, chunk: &[u8]) -> io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Err(io::Error::other("event log file is not open"));
        };
        match f.write_all(chunk) {
            Ok(()) => {
                self.size += chunk.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut a half-written chunk back to where it began, so the
                // file never holds a partial line (best effort: the disk may
                // refuse this too, but truncation frees space rather than
                // taking it).
                if self.regular {
                    let _ = f.set_len(self.size);
                }
                Err(e)
            }
        }
    }
}

/// How long the stdout sink waits for room in a pipe before it counts the
/// batch as lost (and tries again a second later).
const STDOUT_WAIT: Duration = Duration::from_secs(1);

/// Writes `buf` to standard output (fd 1, not through std's locked buffer),
/// waiting at most `wait` each time for room: a stdout piped to a reader
/// that stopped reading makes this fail instead of blocking the writer (or a
/// shutdown) for ever. On failure returns how many bytes went out.
pub fn write_stdout(buf: &[u8], wait: Duration) -> Result<(), (usize, io::Error)> {
    // PIPE_BUF: a pipe that polls writable takes this much without blocking.
    const CHUNK: usize = 4096;
    let wait_ms = wait.as_millis().min(i32::MAX as u128) as i32;
    let mut done = 0;
    while done < buf.len() {
        let mut pfd = libc::pollfd {
            fd: 1,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd on the stack; the timeout bounds the wait.
        let r = unsafe { libc::poll(&mut pfd, 1, wait_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err((done, e));
        }
        if r == 0 {
            return Err((
                done,
                io::Error::new(io::ErrorKind::TimedOut, "standard output is not being read"),
            ));
        }
        let n = (buf.len() - done).min(CHUNK);
        // SAFETY: writes at most `n` bytes from inside `buf` to fd 1.
        let w = unsafe { libc::write(1, buf[done..].as_ptr().cast(), n) };
        if w < 0 {
            let e = io::Error::last_os_error();
            if matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
            ) {
                continue;
            }
            return Err((done, e));
        }
        done += w as usize;
    }
    Ok(())
}

fn remove_if_present(p: &Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            v.extend_from_slice(format!("{{\"n\":{i:04}}}\n").as_bytes());
        }
        v
    }

    #[test]
    fn size_rotation_keeps_lines_whole_and_numbered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let rot = Rotation {
            bytes: 100,
            every: None,
            keep: 2,
        };
        let mut s = Sink::open(&SinkKind::File(path.clone()), rot).unwrap();
        // 11-byte lines: 9 per file.
        s.write_lines(&lines(30)).unwrap();
        let cur = std::fs::read_to_string(&path).unwrap();
        let one = std::fs::read_to_string(numbered(&path, 1)).unwrap();
        let two = std::fs::read_to_string(numbered(&path, 2)).unwrap();
        assert!(!numbered(&path, 3).exists(), "keep = 2");
        for f in [&cur, &one, &two] {
            assert!(f.len() <= 100, "{}", f.len());
            assert!(f.lines().all(|l| l.len() == 10), "{f}");
        }
        // Oldest to newest, no gap: lines 9.. (0..9 fell off the end).
        let all = format!("{two}{one}{cur}");
        let nums: Vec<usize> = all.lines().map(|l| l[5..9].parse().unwrap()).collect();
        assert_eq!(nums, (30 - nums.len()..30).collect::<Vec<_>>());
    }

    #[test]
    fn a_fifo_or_device_is_written_but_never_rotated() {
        // `--events /dev/null` once turned /dev/null into a rotated file; a
        // FIFO stands in for the device here (renaming a real /dev/null in a
        // test that fails would break the machine).
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.fifo");
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo reads it only.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let path = path.clone();
            std::thread::spawn(move || std::fs::read(&path).unwrap().len())
        };
        let rot = Rotation {
            bytes: 100,
            every: Some(Duration::from_millis(1)),
            keep: 2,
        };
        let mut s = Sink::open(&SinkKind::File(path.clone()), rot).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!s.rotation_due(), "a FIFO is never due");
        s.write_lines(&lines(30)).unwrap();
        s.rotate().unwrap();
        drop(s);
        assert_eq!(reader.join().unwrap(), 30 * 11, "every line went through");
        assert!(!numbered(&path, 1).exists(), "nothing was renamed");
        assert!(std::fs::metadata(&path).unwrap().file_type().is_fifo());
    }

    #[test]
    fn age_rotation_only_rotates_a_file_with_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let rot = Rotation {
            bytes: 0,
            every: Some(Duration::from_millis(30)),
            keep: 3,
        };
        let mut s = Sink::open(&SinkKind::File(path.clone()), rot).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        assert!(!s.rotation_due(), "an empty file is not rotated");
        s.write_lines(b"one\n").unwrap();
        assert!(s.rotation_due());
        s.rotate().unwrap();
        assert!(!s.rotation_due(), "the new file starts a new period");
        s.write_lines(b"two\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(numbered(&path, 1)).unwrap(),
            "one\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
    }

    #[test]
    fn reopen_follows_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.log");
        let rot = Rotation {
            bytes: 0,
            every: None,
            keep: 1,
        };
        let mut s = Sink::open(&SinkKind::File(path.clone()), rot).unwrap();
        s.write_lines(b"a\n").unwrap();
        std::fs::rename(&path, dir.path().join("old")).unwrap();
        s.write_lines(b"b\n").unwrap();
        s.reopen().unwrap();
        s.write_lines(b"c\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("old")).unwrap(),
            "a\nb\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "c\n");
    }

    #[test]
    fn a_full_device_is_an_error_not_a_hang() {
        let rot = Rotation {
            bytes: 0,
            every: None,
            keep: 1,
        };
        let mut s = Sink::open(&SinkKind::File(PathBuf::from("/dev/full")), rot).unwrap();
        let (done, e) = s.write_lines(b"x\n").unwrap_err();
        assert_eq!(done, 0);
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    }
}

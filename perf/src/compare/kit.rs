//! The peers kit's configs, moved: with `--port-offset N` the harness runs
//! beside servers that already hold the kit's ports (another run, someone's
//! leftover backend) on copies of the kit's configs whose ports are moved up
//! by N and whose pid files, logs, temp and ModSecurity directories live in
//! the run's own directory, so nothing is shared with the other instances.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The kit's ports (backend A through E).
pub const KIT_PORTS: std::ops::RangeInclusive<u16> = 18080..=18085;

/// One config file's text with the work dir replaced by `new_root` and
/// every `127.0.0.1:PORT` of the kit's ports moved up by `offset`.
pub fn rewrite(text: &str, old_root: &str, new_root: &str, offset: u16) -> String {
    let mut out = text.replace(old_root, new_root);
    for port in KIT_PORTS.rev() {
        out = out.replace(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{}", port + offset),
        );
    }
    out
}

/// Copies the kit's work dir layout to `new_root` (configs rewritten; the
/// directories Apache's and nginx's workers write to owned as in the kit's
/// setup.sh) and returns nothing: use `new_root` as the work dir.
pub fn relocate(work: &Path, new_root: &Path, offset: u16) -> Result<()> {
    if new_root.starts_with(work) || work.starts_with(new_root) {
        bail!(
            "relocated kit dir {} overlaps {}",
            new_root.display(),
            work.display()
        );
    }
    for d in [
        "conf",
        "logs",
        "run",
        "tmp",
        "modsec-data",
        "modsec-tmp",
        "wrk",
    ] {
        std::fs::create_dir_all(new_root.join(d))
            .with_context(|| format!("creating {}", new_root.join(d).display()))?;
    }
    let old = work.display().to_string();
    let new = new_root.display().to_string();
    for entry in std::fs::read_dir(work.join("conf")).context("reading the kit's conf/")? {
        let entry = entry?;
        let text = std::fs::read_to_string(entry.path())
            .with_context(|| format!("reading {}", entry.path().display()))?;
        std::fs::write(
            new_root.join("conf").join(entry.file_name()),
            rewrite(&text, &old, &new, offset),
        )?;
    }
    for f in ["features.env", "versions.txt", "wrk/body.json"] {
        if work.join(f).is_file() {
            std::fs::copy(work.join(f), new_root.join(f))?;
        }
    }
    // As the kit's setup.sh: Apache's children and nginx's workers run as
    // www-data / nobody and write logs, temp bodies and ModSecurity state.
    let chown = Command::new("chown")
        .args(["-R", "www-data:www-data"])
        .arg(new_root.join("modsec-data"))
        .arg(new_root.join("modsec-tmp"))
        .arg(new_root.join("tmp"))
        .status();
    if !chown.map(|s| s.success()).unwrap_or(false) {
        bail!(
            "chown www-data of {}'s ModSecurity and temp dirs failed (run as root)",
            new_root.display()
        );
    }
    let chmod = Command::new("chmod")
        .arg("777")
        .arg(new_root.join("logs"))
        .status();
    if !chmod.map(|s| s.success()).unwrap_or(false) {
        bail!("chmod of {} failed", new_root.join("logs").display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_ports_and_paths() {
        let conf = "pid /tmp/peers/work/run/nginx-c.pid;\n  server 127.0.0.1:18080;\n  listen 127.0.0.1:18082 backlog=4096;\n  Include /tmp/peers/work/conf/modsec2-main.conf\n  other 127.0.0.1:9901\n";
        let r = rewrite(conf, "/tmp/peers/work", "/o/kit", 1000);
        assert_eq!(
            r,
            "pid /o/kit/run/nginx-c.pid;\n  server 127.0.0.1:19080;\n  listen 127.0.0.1:19082 backlog=4096;\n  Include /o/kit/conf/modsec2-main.conf\n  other 127.0.0.1:9901\n"
        );
        // No double shifts when the offset lands on another kit port.
        assert_eq!(
            rewrite("127.0.0.1:18080 127.0.0.1:18081", "/x", "/y", 1),
            "127.0.0.1:18081 127.0.0.1:18082"
        );
    }

    #[test]
    fn refuses_to_relocate_into_itself() {
        assert!(relocate(
            Path::new("/tmp/peers/work"),
            Path::new("/tmp/peers/work/x"),
            1
        )
        .is_err());
    }
}

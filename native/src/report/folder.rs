//! Writing result folders: an analysis (`report.json`, CSVs, maps, overlay; beyond the
//! contract also `polymorph_probability.tif`, the arg-max class's probability, and
//! `contamination.tif`, the contamination call per pixel as [`crate::analysis::carbon::Call`]:
//! 0 clean, 1 excluded with the hollows' confirmation, 2 excluded where the lattice
//! shows no hollows, 3 flagged by the map but kept, its hollows clean; and
//! `hollow_excess.tif`, the evidence behind it, see [`crate::analysis::hollow`]) and
//! a simulation (`image.tif`, `truth.json`, `polymorph.tif`, `carbon.tif`).
//!
//! # Result folders cannot be mixed
//!
//! An analysis is written into a fresh hidden sibling of its destination,
//! `.<name>.tmp-<pid>-<n>`, every file flushed to disk (`report.json` last), and only
//! then renamed to `<name>`. The rename is the commit: a folder named `<name>` that this
//! code made always holds one analysis, complete. An older folder at the destination
//! is first renamed aside to `.<name>.old-<pid>-<n>`, the new one renamed into place,
//! and the old one deleted. For the few microseconds between those two renames the
//! destination is absent (never partial); a crash exactly there leaves the old
//! complete folder as `.old-…`, and [`recover_leftovers`] renames it back on the next
//! run. So, after a kill at any instant, `<name>` is the old complete folder, the new
//! complete folder, or absent with the old one waiting as `.old-…`; `.tmp-…` folders
//! are never trusted and are deleted by the next run.
//!
//! A folder without `report.json` (an older version's interrupted write, or one made
//! by hand) is never taken for a result ([`is_complete`]) and is replaced like any
//! other.

use crate::analysis::Analysis;
use crate::error::{Error, Result};
use crate::io;
use crate::report::overlay;
use std::fs::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Numbers this process's temporary folders (with the pid, unique among live writers).
static SERIAL: AtomicU64 = AtomicU64::new(0);

/// Whether `dir` holds a finished analysis: its `report.json` is written last, and
/// nothing else makes a result folder.
pub fn is_complete(dir: &Path) -> bool {
    dir.join("report.json").is_file()
}

/// Writes every output of one analysis as the folder `dir`, atomically: `dir` is
/// replaced (if it exists) only once the new folder is complete and on disk.
pub fn write_analysis(dir: &Path, analysis: &Analysis, image: &[f32]) -> Result<()> {
    let (parent, name) = split(dir)?;
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    if dir.symlink_metadata().is_ok() && !dir.is_dir() {
        return Err(Error::io(dir, "exists and is not a folder; not replaced"));
    }
    let tmp = fresh_sibling(&parent, &name, "tmp")?;
    let written = write_files(&tmp, analysis, image).and_then(|()| sync_dir(&tmp));
    let committed = written.and_then(|()| commit(&tmp, dir, &parent, &name));
    if committed.is_err() {
        // Best effort: a folder left here is ignored, then deleted by the next run.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    committed
}

/// Every file of an analysis, each flushed to disk, `report.json` last.
fn write_files(dir: &Path, analysis: &Analysis, image: &[f32]) -> Result<()> {
    let r = &analysis.report;
    let (w, h) = (analysis.width, analysis.height);
    let px = Some(r.image.pixel_size_angstrom);
    write_text(&dir.join("atoms.csv"), &r.atoms_csv())?;
    write_text(&dir.join("vacancies.csv"), &r.vacancies_csv())?;
    // The maps and the overlay are independent files: write them side by side.
    let (maps, overlay) = rayon::join(
        || -> Result<()> {
            let path = dir.join("polymorph.tif");
            io::tiff::write_u8(&path, w, h, &analysis.polymorph_map, px)?;
            sync_file(&path)?;
            let path = dir.join("polymorph_probability.tif");
            io::tiff::write_f32(&path, w, h, &analysis.polymorph_probability, px)?;
            sync_file(&path)?;
            let path = dir.join("carbon.tif");
            io::tiff::write_f32(&path, w, h, &analysis.carbon_map, px)?;
            sync_file(&path)?;
            let path = dir.join("contamination.tif");
            io::tiff::write_u8(&path, w, h, &analysis.contamination, px)?;
            sync_file(&path)?;
            let path = dir.join("hollow_excess.tif");
            io::tiff::write_f32(&path, w, h, &analysis.hollow_excess, px)?;
            sync_file(&path)
        },
        || {
            let canvas = overlay::render(
                image,
                w,
                h,
                r,
                &analysis.polymorph_map,
                &analysis.contamination,
            );
            let path = dir.join("overlay.png");
            io::png::write(&path, w, h, 3, &canvas.rgb)?;
            sync_file(&path)
        },
    );
    maps?;
    overlay?;
    let json = serde_json::to_string_pretty(r).map_err(|e| Error::io(dir, e))?;
    write_text(&dir.join("report.json"), &json)
}

/// Puts the complete folder `tmp` in place of `dir`, moving an existing `dir` aside
/// first and deleting it after.
fn commit(tmp: &Path, dir: &Path, parent: &Path, name: &str) -> Result<()> {
    if dir.symlink_metadata().is_err() {
        std::fs::rename(tmp, dir).map_err(|e| Error::io(dir, e))?;
        return sync_dir(parent);
    }
    let old = fresh_name(parent, name, "old");
    std::fs::rename(dir, &old).map_err(|e| Error::io(dir, format!("cannot move aside ({e})")))?;
    // From here until the next rename `dir` is absent; the old folder waits in `old`.
    if let Err(e) = std::fs::rename(tmp, dir) {
        let _ = std::fs::rename(&old, dir);
        return Err(Error::io(dir, e));
    }
    sync_dir(parent)?;
    // A failure here leaves a stale `.old-…` beside a complete `dir`: harmless, and
    // deleted by the next run's `recover_leftovers`.
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Finishes what interrupted runs left in `parent`: a `.<name>.old-…` folder whose
/// `<name>` is missing (a crash between the two renames of a replacement) is renamed
/// back, if complete; every other `.tmp-…` and `.old-…` folder is deleted. Folders of
/// another stemsight process that is still running (by pid, where the system tells)
/// are left alone. Returns what it could not do, one line each; a missing `parent` is
/// nothing to do.
pub fn recover_leftovers(parent: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut leftovers: Vec<(PathBuf, String, bool)> = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if let Some((name, kind, pid)) = parse_leftover(file_name) {
            if !process_alive(pid) {
                leftovers.push((entry.path(), name.to_string(), kind == "old"));
            }
        }
    }
    // Newest first, so the most recent old folder is the one restored.
    leftovers
        .sort_by_key(|(p, _, _)| std::cmp::Reverse(p.metadata().and_then(|m| m.modified()).ok()));
    let mut problems = Vec::new();
    let mut restored = false;
    for (path, name, old) in &leftovers {
        let dest = parent.join(name);
        if *old && dest.symlink_metadata().is_err() && is_complete(path) {
            match std::fs::rename(path, &dest) {
                Ok(()) => restored = true,
                Err(e) => problems.push(format!(
                    "{}: cannot restore the previous result from {} ({e})",
                    dest.display(),
                    path.display()
                )),
            }
            continue;
        }
        if let Err(e) = std::fs::remove_dir_all(path) {
            problems.push(format!(
                "{}: cannot delete a leftover of an interrupted run ({e})",
                path.display()
            ));
        }
    }
    if restored {
        if let Err(e) = sync_dir(parent) {
            problems.push(e.to_string());
        }
    }
    problems
}

/// `.<name>.tmp-<pid>-<n>` or `.<name>.old-<pid>-<n>` → (name, "tmp" | "old", pid).
fn parse_leftover(file_name: &str) -> Option<(&str, &str, u32)> {
    let rest = file_name.strip_prefix('.')?;
    for kind in ["tmp", "old"] {
        let marker = format!(".{kind}-");
        let Some(at) = rest.rfind(&marker) else {
            continue;
        };
        let (name, suffix) = (&rest[..at], &rest[at + marker.len()..]);
        let Some((pid, n)) = suffix.split_once('-') else {
            continue;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if name.is_empty() || !digits(pid) || !digits(n) {
            continue;
        }
        return Some((name, kind, pid.parse().ok()?));
    }
    None
}

/// Whether another process with this pid is running. Our own pid counts as not
/// running: within one process a destination is written by one call at a time, so
/// a folder with our pid is an earlier process's (pids are reused, in containers
/// often). Where the system cannot tell, no process is taken as running.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    if cfg!(target_os = "linux") {
        // A zombie (killed, not yet reaped) has stopped writing.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !matches!(
                stat.rsplit_once(") ").and_then(|(_, s)| s.chars().next()),
                Some('Z') | Some('X')
            ),
            Err(_) => false,
        }
    } else {
        false
    }
}

/// The folder and the last component of `dir`, which must be a plain name
/// (not `..`, `.` or a root).
fn split(dir: &Path) -> Result<(PathBuf, String)> {
    let name = match dir.components().next_back() {
        Some(Component::Normal(n)) => n.to_str().map(str::to_string),
        _ => None,
    }
    .ok_or_else(|| Error::io(dir, "not a usable result folder name"))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

fn fresh_name(parent: &Path, name: &str, kind: &str) -> PathBuf {
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    parent.join(format!(".{name}.{kind}-{}-{n}", std::process::id()))
}

/// Creates a new empty folder `.<name>.<kind>-<pid>-<n>` that no one else uses.
fn fresh_sibling(parent: &Path, name: &str, kind: &str) -> Result<PathBuf> {
    loop {
        let path = fresh_name(parent, name, kind);
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            // An earlier process with our pid left it: take the next number.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
}

/// Writes `text` to a new file and flushes it to disk.
fn write_text(path: &Path, text: &str) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Flushes a file written by another writer to disk.
fn sync_file(path: &Path) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Makes a folder's entries (new files, renames) durable. Only Unix can open a folder
/// for this; elsewhere the file system orders metadata itself.
fn sync_dir(dir: &Path) -> Result<()> {
    if cfg!(unix) {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

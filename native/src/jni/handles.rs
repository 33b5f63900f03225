//! The loaded analyzers. They are cached per models directory and device in a
//! process-wide registry and handed to Java as small integer handles, not pointers,
//! so a stale or forged handle is an exception, never a wild dereference.

use super::errors::{Failure, JResult};
use crate::analysis::Analyzer;
use crate::nn::device::Device;
use jni::sys::jlong;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Loaded analyzers: handle `h` is `list[h - 1]`; `by_dir` avoids loading a directory twice.
#[derive(Default)]
struct Registry {
    /// Per handle − 1: the analyzer, `None` once every Java user has closed it (an
    /// analysis still running holds its own reference and finishes).
    list: Vec<Option<Arc<Analyzer>>>,
    /// Per analyzer: why it is not on the device asked for (empty when it is).
    notes: Vec<String>,
    /// Per analyzer: the Java `Analyzer` objects holding it open.
    users: Vec<usize>,
    by_dir: HashMap<(PathBuf, Device), jlong>,
}

/// The registry, locked; a panic while it was held leaves it usable.
fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The registry index of `handle`, if it can be one.
fn index(handle: jlong) -> Option<usize> {
    usize::try_from(handle).ok().and_then(|h| h.checked_sub(1))
}

/// Loads (or finds in the cache) the analyzer of a models directory (empty = default)
/// on `device`. Where CUDA cannot be used it runs on the CPU, and its note says why.
pub(super) fn load(dir: &str, device: Device) -> JResult<jlong> {
    let dir = if dir.trim().is_empty() {
        crate::analysis::default_models_dir()
    } else {
        PathBuf::from(dir)
    };
    let key = (
        std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone()),
        device,
    );
    // Loading under the lock keeps two threads from loading the same model twice;
    // it takes a second and happens once per directory and device.
    let mut reg = registry();
    if let Some(&handle) = reg.by_dir.get(&key) {
        reg.users[handle as usize - 1] += 1;
        return Ok(handle);
    }
    let mut analyzer = Analyzer::load(&dir)?;
    let note = match analyzer.use_device(device) {
        Ok(_) => String::new(),
        Err(why) => format!("CUDA unavailable ({why}); running on CPU"),
    };
    reg.list.push(Some(Arc::new(analyzer)));
    reg.notes.push(note);
    reg.users.push(1);
    let handle = reg.list.len() as jlong;
    reg.by_dir.insert(key, handle);
    Ok(handle)
}

/// The models folder for the Java binding's search: the first of `candidates` that holds
/// a model, else the repository's `models/` above the first of `starts` that has one
/// (`analysis::models_dir_above`, as the CLI looks above its executable).
pub(super) fn find_models(candidates: &[String], starts: &[String]) -> Option<PathBuf> {
    let found = candidates
        .iter()
        .map(PathBuf::from)
        .find(|dir| crate::analysis::holds_model(dir));
    found.or_else(|| {
        starts
            .iter()
            .find_map(|start| crate::analysis::models_dir_above(Path::new(start)))
    })
}

/// Why the analyzer of `handle` is not on the device asked for ("" when it is).
pub(super) fn note_for(handle: jlong) -> String {
    let reg = registry();
    index(handle)
        .and_then(|i| reg.notes.get(i).cloned())
        .unwrap_or_default()
}

/// The analyzer of `handle`, held for the caller; an unknown or closed handle is an
/// invalid parameter.
pub(super) fn analyzer_for(handle: jlong) -> JResult<Arc<Analyzer>> {
    let reg = registry();
    index(handle)
        .and_then(|i| reg.list.get(i).cloned().flatten())
        .ok_or_else(|| Failure::invalid(format!("unknown or closed analyzer handle {handle}")))
}

/// One Java user less for `handle`; the last one frees the analyzer (its model and
/// plans) and the next load of that folder loads it afresh. Unknown handles and
/// repeated releases are ignored: closing twice is harmless.
pub(super) fn release(handle: jlong) {
    let mut reg = registry();
    let Some(i) = index(handle) else {
        return;
    };
    if i >= reg.users.len() || reg.users[i] == 0 {
        return;
    }
    reg.users[i] -= 1;
    if reg.users[i] == 0 {
        reg.list[i] = None;
        reg.by_dir.retain(|_, &mut h| h != handle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::jni::errors::ExceptionKind;

    #[test]
    fn bad_handles_are_errors() {
        for handle in [0, -1, 1 << 40] {
            let e = analyzer_for(handle).err().unwrap();
            assert_eq!(
                e.kind(),
                Some(ExceptionKind::Error(ErrorKind::InvalidParameter))
            );
        }
        release(-1);
        release(1 << 40);
        assert_eq!(note_for(0), "");
    }

    #[test]
    fn models_are_found_in_candidates_then_above_starts() {
        let root = tempfile::tempdir().unwrap();
        let path = |p: &str| root.path().join(p).display().to_string();
        for dir in [
            "repo/models/m1",
            "repo/target/java",
            "fiji/models/stemsight",
            "empty",
        ] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("repo/models/README.md"), "").unwrap();
        std::fs::write(root.path().join("repo/models/m1/model.json"), "{}").unwrap();
        std::fs::write(root.path().join("fiji/models/stemsight/model.json"), "{}").unwrap();
        let starts = [path("empty"), path("repo/target/java")];
        let found = find_models(&[path("empty")], &starts).unwrap();
        assert_eq!(found, root.path().join("repo/models"));
        let fiji = find_models(&[path("fiji/models/stemsight")], &starts).unwrap();
        assert_eq!(fiji, root.path().join("fiji/models/stemsight"));
        assert_eq!(find_models(&[], &[path("empty")]), None);
    }

    #[test]
    fn missing_models_dir_is_an_error() {
        let e = load("/nonexistent/stemsight-models", Device::Cpu)
            .err()
            .unwrap();
        assert_eq!(e.kind(), Some(ExceptionKind::Error(ErrorKind::Model)));
    }
}

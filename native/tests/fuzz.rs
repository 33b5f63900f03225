//! A deterministic mutation fuzzer over every reader: seed files of each format (made
//! here, the repository's EMD fixture, and the real DM3/DM4/SER/EMI/MRC files of
//! `../shared/data` when present) are mutated with a fixed-seed generator — bit flips,
//! bytes set to extremes, integers overwritten with boundary values, cuts, repeats — and
//! each mutant must read as an image or fail with an error: never a panic, never a hang.
//!
//! CI runs it for `STEMSIGHT_FUZZ_SECONDS` (default 20 s, shared by the seeds);
//! `STEMSIGHT_FUZZ_FORMATS` (extensions, comma-separated) keeps the seeds of some readers
//! only. The long run gives each reader its own hour, one process per reader:
//!
//! ```text
//! for f in tif png emd dm3,dm4 ser mrc; do
//!   STEMSIGHT_FUZZ_FORMATS=$f STEMSIGHT_FUZZ_SECONDS=3600 \
//!     cargo test --release -p stemsight --test fuzz -- --nocapture > fuzz-$f.log 2>&1 &
//! done
//! ```
//!
//! The seed of the generator is printed, and `STEMSIGHT_FUZZ_SEED` replays a run.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use stemsight::io::read_image_with;
use stemsight::io::ReadOptions;

/// Longest a reader may take on one mutant before it counts as a hang.
const HANG: Duration = Duration::from_secs(10);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (extension, bytes) of every seed file.
fn seeds(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let ramp: Vec<f32> = (0..48 * 40).map(|i| (i % 97) as f32 * 1.5).collect();
    let tif = dir.join("seed.tif");
    stemsight::io::tiff::write_f32(&tif, 48, 40, &ramp, Some(0.1)).unwrap();
    out.push(("tif".to_string(), std::fs::read(&tif).unwrap()));
    out.push(("tif".to_string(), deflate_tiff(&ramp, 48, 40)));
    let bytes: Vec<u8> = (0..32 * 24 * 3).map(|i| (i * 7 % 251) as u8).collect();
    let png = dir.join("seed.png");
    stemsight::io::png::write(&png, 32, 24, 3, &bytes).unwrap();
    out.push(("png".to_string(), std::fs::read(&png).unwrap()));
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let emd = manifest.join("tests/data/velox_two_detectors.emd");
    out.push(("emd".to_string(), std::fs::read(emd).unwrap()));
    let planar = manifest.join("tests/data/planar_rgb.tif");
    out.push(("tif".to_string(), std::fs::read(planar).unwrap()));
    let shared = manifest.join("../../shared/data");
    for rel in [
        "formats/dmTest_float32_nonSquare_diffPixelSize.dm3",
        "formats/dmTest_3D_int16_64,65,66.dm4",
        "formats/temp.mrc",
        "formats/16_STOimage_1.ser",
        "real/wse2_ti_doped_adf1_2.dm4",
    ] {
        let p = shared.join(rel);
        match std::fs::read(&p) {
            Ok(b) => {
                let ext = p.extension().unwrap().to_string_lossy().into_owned();
                out.push((ext, b));
            }
            Err(_) => eprintln!("fuzz: {} absent, not a seed", p.display()),
        }
    }
    out
}

/// A deflate-compressed float TIFF: the decompressing path of the TIFF reader.
fn deflate_tiff(values: &[f32], width: u32, height: u32) -> Vec<u8> {
    use tiff::encoder::{colortype::Gray32Float, compression::Deflate, TiffEncoder};
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut encoder = TiffEncoder::new(&mut buffer).unwrap();
    encoder
        .write_image_with_compression::<Gray32Float, _>(width, height, Deflate::default(), values)
        .unwrap();
    buffer.into_inner()
}

/// One mutation of `bytes` (at least one change).
fn mutate(bytes: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let edits = 1 + rng.gen_range(0..4);
    for _ in 0..edits {
        if b.is_empty() {
            b.push(rng.gen());
            continue;
        }
        // Headers hold most of the structure: aim half the edits at the first 512 bytes.
        let span = if rng.gen_bool(0.5) {
            b.len().min(512)
        } else {
            b.len()
        };
        let at = rng.gen_range(0..span);
        match rng.gen_range(0..6) {
            0 => b[at] ^= 1 << rng.gen_range(0..8),
            1 => b[at] = [0x00, 0xff, 0x7f, 0x80][rng.gen_range(0..4)],
            2 => {
                let v: u32 =
                    [0, 1, 0x7fff_ffff, 0xffff_ffff, 0x10000, 0x8000_0000][rng.gen_range(0..6)];
                let le = rng.gen_bool(0.5);
                let word = if le { v.to_le_bytes() } else { v.to_be_bytes() };
                for (k, w) in word.iter().enumerate() {
                    if at + k < b.len() {
                        b[at + k] = *w;
                    }
                }
            }
            3 => b.truncate(at.max(1)),
            4 => {
                let end = (at + rng.gen_range(1..64)).min(b.len());
                let chunk = b[at..end].to_vec();
                b.splice(at..at, chunk);
            }
            _ => b[at] = rng.gen(),
        }
    }
    b
}

#[test]
fn mutated_files_never_panic_or_hang() {
    let budget = Duration::from_secs(env_number("STEMSIGHT_FUZZ_SECONDS", 20));
    let seed = env_number("STEMSIGHT_FUZZ_SEED", 20261202);
    let dir = tempfile::tempdir().unwrap();
    let formats = std::env::var("STEMSIGHT_FUZZ_FORMATS").unwrap_or_default();
    let wanted: Vec<&str> = formats.split(',').filter(|f| !f.is_empty()).collect();
    let seeds: Vec<_> = seeds(dir.path())
        .into_iter()
        .filter(|(ext, _)| wanted.is_empty() || wanted.contains(&ext.as_str()))
        .collect();
    assert!(!seeds.is_empty(), "no seed file for formats {formats:?}");
    eprintln!("fuzz: seed {seed}, {} seed files, {budget:?}", seeds.len());
    let per_seed = budget / seeds.len() as u32;
    // Small frames only: a mutant that declares a huge but legal image must be refused
    // by the size checks, not decoded.
    let options = ReadOptions {
        max_frame_pixels: 4096 * 4096,
        max_total_pixels: 4 * 4096 * 4096,
        ..ReadOptions::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut failures = Vec::new();
    for (ext, bytes) in &seeds {
        let (mut runs, mut read, mut refused) = (0usize, 0usize, 0usize);
        let path = dir.path().join(format!("mutant.{ext}"));
        let t0 = Instant::now();
        while t0.elapsed() < per_seed {
            let mutant = mutate(bytes, &mut rng);
            std::fs::write(&path, &mutant).unwrap();
            let t = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| read_image_with(&path, &options)));
            let took = t.elapsed();
            runs += 1;
            match outcome {
                Ok(Ok(_)) => read += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => {
                    let keep = dir.path().join(format!("panic-{runs}.{ext}"));
                    std::fs::write(&keep, &mutant).unwrap();
                    failures.push(format!("{ext}: panic on mutant {runs} (seed {seed})"));
                }
            }
            if took > HANG {
                failures.push(format!("{ext}: mutant {runs} took {took:?} (seed {seed})"));
            }
        }
        eprintln!(
            "fuzz {ext}: {runs} mutants ({read} read, {refused} refused) in {:?}",
            t0.elapsed()
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

//! Velox EMD files (Thermo Fisher's HDF5 layout), read with a pure-Rust HDF5 decoder.
//!
//! Each image lives in `/Data/Image/<id>/`: `Data` holds the pixels as rows × columns ×
//! frames, `Metadata` one zero-padded JSON text per frame (bytes × frames) whose
//! `BinaryResult` names the detector and gives the pixel size with its unit; `Optics`,
//! `Scan`, `Instrument` and `Detectors` describe the acquisition. A file from a
//! multi-detector acquisition holds several images; the HAADF one is read unless
//! `ReadOptions::detector` names another.

use super::frames::Loaded;
use super::frames::{pick_detector, Acquisition, ReadOptions};
use super::units::unit_to_angstrom;
use crate::error::{Error, Result};
use crate::image::Image;
use hdf5_reader::{Dataset, Datatype, Hdf5File};
use std::path::Path;

/// Reads the HAADF (or the chosen detector's) image of a Velox EMD file, every frame.
pub fn read_emd(path: &Path, options: &ReadOptions) -> Result<Loaded> {
    let bad = |what: String| Error::decode(path, what);
    let file =
        Hdf5File::open(path).map_err(|e| bad(format!("not a readable HDF5/EMD file ({e})")))?;
    let images = file
        .group("/Data/Image")
        .and_then(|g| g.groups())
        .map_err(|e| {
            bad(format!(
                "cannot read /Data/Image: not a Velox EMD image file, or a truncated one ({e})"
            ))
        })?;
    if images.is_empty() {
        return Err(bad("the EMD file holds no image".into()));
    }
    let mut found = Vec::new();
    for group in &images {
        let data = group
            .dataset("Data")
            .map_err(|e| bad(format!("image {} has no Data ({e})", group.name())))?;
        let metadata = group
            .dataset("Metadata")
            .ok()
            .map(|m| frame_metadata(&m))
            .transpose()
            .map_err(|e| bad(format!("image {}: unreadable Metadata ({e})", group.name())))?
            .unwrap_or_default();
        found.push((group.name().to_string(), data, metadata));
    }
    let detector = |meta: &[serde_json::Value]| -> String {
        meta.first()
            .and_then(|m| m.pointer("/BinaryResult/Detector"))
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .to_string()
    };
    let names: Vec<String> = found.iter().map(|(_, _, m)| detector(m)).collect();
    let mut warnings = Vec::new();
    let pick = pick_detector(&names, options.detector.as_deref()).map_err(|e| e.with_path(path))?;
    if options.detector.is_none() && !names[pick].to_ascii_uppercase().contains("HAADF") {
        warnings.push(format!(
            "no HAADF image in the EMD file; read the '{}' one",
            names[pick]
        ));
    }
    if found.len() > 1 {
        warnings.push(format!(
            "the EMD file holds {} images ({}); read the {} one",
            found.len(),
            names.join(", "),
            names[pick]
        ));
    }
    let (name, data, metadata) = &found[pick];
    let shape: Vec<usize> = data.shape().iter().map(|&s| s as usize).collect();
    let (h, w, n) = match shape[..] {
        [h, w] => (h, w, 1),
        [h, w, n] => (h, w, n),
        _ => {
            return Err(bad(format!(
                "image {name} has shape {shape:?}; expected rows × columns × frames"
            )))
        }
    };
    options.check_size(w, h, n).map_err(|e| e.with_path(path))?;
    let values = read_as_f32(data).map_err(|e| bad(format!("image {name}: {e}")))?;
    if values.len() != h * w * n {
        return Err(bad(format!(
            "image {name}: {} values for shape {shape:?}",
            values.len()
        )));
    }
    let frames = (0..n)
        .map(|k| {
            let pixel_size = metadata.get(k).or(metadata.first()).and_then(pixel_size);
            let frame = (0..h * w).map(|i| values[i * n + k]).collect();
            Image::from_vec(w, h, pixel_size, frame)
        })
        .collect();
    let mut acquisition = metadata.first().map(acquisition).unwrap_or_default();
    if found.len() > 1 {
        acquisition.detectors_in_file = names;
    }
    Ok(Loaded {
        frames,
        warnings,
        acquisition,
    })
}

/// A metadata number, whether Velox wrote it as a string or a number.
fn number(meta: &serde_json::Value, pointer: &str) -> Option<f64> {
    let v = meta.pointer(pointer)?;
    let x = match v {
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        v => v.as_f64()?,
    };
    x.is_finite().then_some(x)
}

/// The acquisition as a frame's metadata records it (SI units in the file).
fn acquisition(meta: &serde_json::Value) -> Acquisition {
    let text = |p: &str| {
        meta.pointer(p)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let detector = text("/BinaryResult/Detector");
    // The image's detector entry among all the instrument's detectors.
    let angles = meta
        .get("Detectors")
        .and_then(|d| d.as_object())
        .and_then(|all| {
            all.values()
                .find(|d| d.get("DetectorName").and_then(|n| n.as_str()) == detector.as_deref())
        })
        .map(|d| {
            let mrad = |p: &str| number(d, p).filter(|&a| a > 0.0).map(|a| a * 1e3);
            (
                mrad("/CollectionAngleRange/begin"),
                mrad("/CollectionAngleRange/end"),
            )
        })
        .unwrap_or_default();
    let microscope = match (
        text("/Instrument/Manufacturer"),
        text("/Instrument/InstrumentModel"),
    ) {
        (Some(m), Some(model)) => Some(format!("{m} {model}")),
        (m, model) => model.or(m),
    };
    Acquisition {
        voltage_kv: number(meta, "/Optics/AccelerationVoltage").map(|v| v / 1e3),
        detector,
        detector_inner_mrad: angles.0,
        detector_outer_mrad: angles.1,
        convergence_mrad: number(meta, "/Optics/BeamConvergence")
            .filter(|&a| a > 0.0)
            .map(|a| a * 1e3),
        dwell_time_us: number(meta, "/Scan/DwellTime").map(|t| t * 1e6),
        magnification: number(meta, "/Optics/NominalMagnification"),
        microscope,
        detectors_in_file: Vec::new(),
    }
}

/// Every pixel as f32, whatever integer or float type the file stores.
fn read_as_f32(data: &Dataset) -> std::result::Result<Vec<f32>, String> {
    fn all<T: hdf5_reader::H5Type + Copy>(
        d: &Dataset,
        f: impl Fn(T) -> f32,
    ) -> std::result::Result<Vec<f32>, String> {
        Ok(d.read_array::<T>()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|&v| f(v))
            .collect())
    }
    match data.dtype() {
        Datatype::FixedPoint { size, signed, .. } => match (size, signed) {
            (1, false) => all(data, |v: u8| v as f32),
            (1, true) => all(data, |v: i8| v as f32),
            (2, false) => all(data, |v: u16| v as f32),
            (2, true) => all(data, |v: i16| v as f32),
            (4, false) => all(data, |v: u32| v as f32),
            (4, true) => all(data, |v: i32| v as f32),
            (8, false) => all(data, |v: u64| v as f32),
            (8, true) => all(data, |v: i64| v as f32),
            _ => Err(format!("unsupported {size}-byte integer pixels")),
        },
        Datatype::FloatingPoint { size: 4, .. } => all(data, |v: f32| v),
        Datatype::FloatingPoint { size: 8, .. } => all(data, |v: f64| v as f32),
        other => Err(format!("unsupported pixel type {other:?}")),
    }
}

/// One JSON document per frame from the zero-padded bytes × frames metadata array.
fn frame_metadata(m: &Dataset) -> std::result::Result<Vec<serde_json::Value>, String> {
    let bytes: Vec<u8> = m
        .read_array::<u8>()
        .map_err(|e| e.to_string())?
        .iter()
        .copied()
        .collect();
    let frames = match m.shape() {
        [_, f] => *f as usize,
        _ => 1,
    }
    .max(1);
    (0..frames)
        .map(|k| {
            let text: Vec<u8> = bytes
                .iter()
                .skip(k)
                .step_by(frames)
                .copied()
                .take_while(|&b| b != 0)
                .collect();
            serde_json::from_slice(&text).map_err(|e| format!("frame {k}: {e}"))
        })
        .collect()
}

/// Å per pixel from a frame's `BinaryResult` (value and unit), if it is a length.
fn pixel_size(meta: &serde_json::Value) -> Option<f64> {
    let result = meta.get("BinaryResult")?;
    let value = number(result, "/PixelSize/width")?;
    let unit = result
        .get("PixelUnitX")
        .and_then(|u| u.as_str())
        .unwrap_or("m");
    let px = value * unit_to_angstrom(unit)?;
    (px.is_finite() && px > 0.0).then_some(px)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
    }

    #[test]
    fn reads_the_haadf_image_of_a_two_detector_file() {
        // scripts/make_emd_fixture.py: DF4 first, then a two-frame HAADF image whose
        // pixel (r, c) of frame k is 1000 k + 10 r + c, at 0.125 Å/px.
        let loaded = crate::io::read_image(&data("tests/data/velox_two_detectors.emd"))
            .expect("fixture reads");
        assert_eq!(loaded.frames.len(), 2);
        for (k, f) in loaded.frames.iter().enumerate() {
            assert_eq!((f.width, f.height), (20, 24));
            assert!((f.pixel_size_angstrom.unwrap() - 0.125).abs() < 1e-9);
            for (r, c) in [(0, 0), (3, 17), (23, 19)] {
                assert_eq!(f.data[r * 20 + c], (1000 * k + 10 * r + c) as f32);
            }
        }
        assert!(
            loaded.warnings.iter().any(|w| w.contains("HAADF")),
            "{:?}",
            loaded.warnings
        );
        assert_eq!(loaded.acquisition.detector.as_deref(), Some("HAADF"));
        assert_eq!(loaded.acquisition.detectors_in_file, ["DF4", "HAADF"]);
        // --detector picks the other image: one frame of 7s at 0.2 Å/px.
        let options = ReadOptions {
            detector: Some("df4".into()),
            ..ReadOptions::default()
        };
        let path = data("tests/data/velox_two_detectors.emd");
        let df4 = crate::io::read_image_with(&path, &options).unwrap();
        assert_eq!(df4.frames.len(), 1);
        assert!(df4.frames[0].data.iter().all(|&v| v == 7.0));
        assert!((df4.frames[0].pixel_size_angstrom.unwrap() - 0.2).abs() < 1e-9);
        assert_eq!(df4.acquisition.detector.as_deref(), Some("DF4"));
        let options = ReadOptions {
            detector: Some("BF".into()),
            ..ReadOptions::default()
        };
        let e = crate::io::read_image_with(&path, &options).unwrap_err();
        assert!(e.to_string().contains("DF4, HAADF"), "{e}");
    }

    #[test]
    fn real_velox_file_matches_its_tiff_export() {
        let emd = data("../../shared/data/real/ws2_monolayer_contaminated.emd");
        let tif = data("../../shared/data/real/ws2_monolayer_contaminated.tif");
        if !emd.is_file() || !tif.is_file() {
            eprintln!("skipped: real EMD/TIFF pair not present");
            return;
        }
        let a = crate::io::read_image(&emd).unwrap();
        let b = crate::io::read_image(&tif).unwrap();
        let q = &a.acquisition;
        assert_eq!(q.voltage_kv, Some(60.0));
        assert_eq!(q.detector.as_deref(), Some("HAADF"));
        assert!(
            (q.detector_inner_mrad.unwrap() - 50.68).abs() < 0.01,
            "{q:?}"
        );
        assert!(
            (q.detector_outer_mrad.unwrap() - 200.0).abs() < 0.01,
            "{q:?}"
        );
        assert!((q.convergence_mrad.unwrap() - 30.03).abs() < 0.01, "{q:?}");
        assert!((q.dwell_time_us.unwrap() - 20.0).abs() < 1e-6, "{q:?}");
        assert_eq!(q.microscope.as_deref(), Some("FEI Company Spectra"));
        assert_eq!(a.frames[0].data, b.frames[0].data);
        let (pa, pb) = (
            a.frames[0].pixel_size_angstrom.unwrap(),
            b.frames[0].pixel_size_angstrom.unwrap(),
        );
        assert!((pa - pb).abs() < 1e-4 * pb, "{pa} vs {pb}");
    }

    #[test]
    fn a_file_that_is_not_hdf5_is_refused_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("broken.emd");
        std::fs::write(&p, b"not an hdf5 file at all").unwrap();
        let e = crate::io::read_image(&p).unwrap_err();
        assert!(e.to_string().contains("HDF5"), "{e}");
        // A truncated or scrambled Velox file is an error with a message, never a panic.
        let whole = std::fs::read(data("tests/data/velox_two_detectors.emd")).unwrap();
        for cut in [600, 4000, 8000, whole.len() - 100] {
            std::fs::write(&p, &whole[..cut]).unwrap();
            assert!(crate::io::read_image(&p).is_err(), "cut at {cut}");
        }
        let mut scrambled = whole.clone();
        for i in (700..scrambled.len()).step_by(37) {
            scrambled[i] ^= 0x5a;
        }
        std::fs::write(&p, &scrambled).unwrap();
        let _ = crate::io::read_image(&p);
    }

    #[test]
    fn pixel_size_from_binary_result() {
        let meta: serde_json::Value = serde_json::from_str(
            r#"{"BinaryResult": {"Detector": "HAADF",
                "PixelSize": {"width": "1.062231596676199e-11", "height": "1.06e-11"},
                "PixelUnitX": "m"}}"#,
        )
        .unwrap();
        assert!((pixel_size(&meta).unwrap() - 0.1062231596676199).abs() < 1e-12);
        let nm: serde_json::Value = serde_json::from_str(
            r#"{"BinaryResult": {"PixelSize": {"width": 0.05}, "PixelUnitX": "nm"}}"#,
        )
        .unwrap();
        assert!((pixel_size(&nm).unwrap() - 0.5).abs() < 1e-12);
        let pixels: serde_json::Value = serde_json::from_str(
            r#"{"BinaryResult": {"PixelSize": {"width": "1"}, "PixelUnitX": "pixel"}}"#,
        )
        .unwrap();
        assert_eq!(pixel_size(&pixels), None);
    }
}

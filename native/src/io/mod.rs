//! Reading and writing images and arrays: calibrated TIFF, viewable PNG, numpy `.npy`;
//! reading the files microscopes write (`read` dispatches on the extension): TIFF and
//! PNG (`read`), Velox EMD (`emd`), Gatan DigitalMicrograph DM3/DM4 (`dm`), FEI/Thermo
//! TIA SER/EMI (`ser`) and MRC (`mrc`).
//!
//! Every reader checks the size a file declares before allocating for it
//! ([`ReadOptions::max_frame_pixels`], and the file's own length for uncompressed
//! data), so a corrupt header is one clean error, never an abort.

pub mod dm;
pub mod emd;
pub mod frames;
pub mod mrc;
pub mod npy;
pub mod png;
pub mod ser;
pub mod tiff;
pub mod units;

pub use frames::{pick_detector, Acquisition, Loaded, ReadOptions, MAX_EXPANSION, MAX_FRAME_SIDE};

use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use std::path::Path;

/// Where a file of `../shared/data` (the real microscope files tests read) would be.
/// The extensions `read_image` reads, lower case.
pub const EXTENSIONS: [&str; 9] = [
    "tif", "tiff", "png", "emd", "dm3", "dm4", "ser", "emi", "mrc",
];

/// Reads a file into one `Image` per frame with the default options.
pub fn read_image(path: &Path) -> Result<Loaded> {
    read_image_with(path, &ReadOptions::default())
}

/// Reads a TIFF, PNG, Velox EMD, DM3/DM4, SER/EMI or MRC file into one `Image` per frame.
pub fn read_image_with(path: &Path, options: &ReadOptions) -> Result<Loaded> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let loaded = match ext.as_str() {
        "tif" | "tiff" => tiff::read_tiff(path, options),
        "png" => png::read_png(path, options),
        "emd" => emd::read_emd(path, options),
        "dm3" | "dm4" => dm::read_dm(path, options),
        "ser" | "emi" => ser::read_ser(path, options),
        "mrc" => mrc::read_mrc(path, options),
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "unsupported file type '.{ext}' (use TIFF, PNG, Velox EMD, DM3/DM4, SER/EMI or MRC)"
            ),
        )),
    }
    .map_err(|e| {
        if e.path.is_none() {
            e.with_path(path)
        } else {
            e
        }
    })?;
    for f in &loaded.frames {
        check_frame(f).map_err(|e| e.with_path(path))?;
    }
    Ok(loaded)
}

fn check_frame(img: &Image) -> Result<()> {
    if img.width == 0 || img.height == 0 {
        return Err(Error::new(ErrorKind::Decode, "image has zero size"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) fn shared_data_path(rel: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

/// A file of `../shared/data`, or `None`, said on stderr, when it is absent: such tests
/// skip cleanly.
#[cfg(test)]
pub(crate) fn shared_data(rel: &str) -> Option<std::path::PathBuf> {
    let p = shared_data_path(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is absent", p.display());
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn picks_the_haadf_then_the_highest_angle_detector() {
        assert_eq!(
            pick_detector(&names(&["BF", "DF2", "HAADF", "DF4"]), None).unwrap(),
            2
        );
        assert_eq!(
            pick_detector(&names(&["BF", "DF2", "DF4"]), None).unwrap(),
            2
        );
        assert_eq!(pick_detector(&names(&["ADF1", "ADF2"]), None).unwrap(), 1);
        assert_eq!(
            pick_detector(&names(&["ADF1", "ADF2"]), Some("adf1")).unwrap(),
            0
        );
        assert_eq!(
            pick_detector(&names(&["ADF1", "ADF2"]), Some("ADF")).unwrap(),
            0
        );
        let e = pick_detector(&names(&["ADF1", "ADF2"]), Some("HAADF")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParameter);
        assert!(e.message.contains("ADF1, ADF2"));
    }

    #[test]
    fn declared_sizes_are_checked_before_allocation() {
        let o = ReadOptions::default();
        assert!(o.check_size(4096, 4096, 3).is_ok());
        assert_eq!(
            o.check_size(65536, 65536, 1).unwrap_err().kind,
            ErrorKind::Unsupported
        );
        assert_eq!(
            o.check_size(usize::MAX, 3, 1).unwrap_err().kind,
            ErrorKind::Unsupported
        );
        assert_eq!(
            o.check_size(16384, 16384, 5).unwrap_err().kind,
            ErrorKind::Unsupported
        );
        assert_eq!(o.check_size(0, 5, 1).unwrap_err().kind, ErrorKind::Decode);
    }
}

#[cfg(test)]
mod read_tests {
    use super::units::{imagej_unit, unit_to_angstrom};
    use super::*;
    use ::tiff::encoder::{colortype, Rational, TiffEncoder};
    use ::tiff::tags::ResolutionUnit;
    use ::tiff::tags::Tag;
    use std::path::PathBuf;

    /// A 16-bit, two-frame ImageJ stack calibrated in nm, as Fiji saves one.
    #[test]
    fn reads_16_bit_stack_with_nm_calibration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack.tif");
        {
            let mut enc = TiffEncoder::new(std::fs::File::create(&path).unwrap()).unwrap();
            for frame in 0..2u16 {
                let data: Vec<u16> = (0..20 * 10).map(|i| i as u16 + 1000 * frame).collect();
                let mut img = enc.new_image::<colortype::Gray16>(20, 10).unwrap();
                img.encoder()
                    .write_tag(Tag::ImageDescription, "ImageJ=1.53t\nimages=2\nunit=nm\n")
                    .unwrap();
                img.resolution_unit(ResolutionUnit::None);
                // 125 px per nm = 0.08 Å/px
                img.x_resolution(Rational { n: 125, d: 1 });
                img.y_resolution(Rational { n: 125, d: 1 });
                img.write_data(&data).unwrap();
            }
        }
        let loaded = read_image(&path).unwrap();
        assert_eq!(loaded.frames.len(), 2);
        let f = &loaded.frames[1];
        assert_eq!((f.width, f.height), (20, 10));
        assert!((f.pixel_size_angstrom.unwrap() - 0.08).abs() < 1e-9);
        assert_eq!(f.data[5], 1005.0);
    }

    /// tifffile's own JSON description stands before ImageJ's: the unit is still found.
    #[test]
    fn imagej_unit_is_found_behind_another_description() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tifffile.tif");
        let bytes = crate::io::tiff::tests::with_descriptions(
            &["{\"shape\": [1, 2]}", "ImageJ=1.53t\nunit=nm\n"],
            Some(50),
        );
        std::fs::write(&path, bytes).unwrap();
        let f = &read_image(&path).unwrap().frames[0];
        // 50 px per nm = 0.2 Å/px
        assert!((f.pixel_size_angstrom.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(f.data, vec![10.0, 20.0]);
    }

    /// 8-bit without calibration; resolution in centimetres without ImageJ description.
    #[test]
    fn reads_8_bit_and_centimetre_resolution() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.tif");
        {
            let mut enc = TiffEncoder::new(std::fs::File::create(&plain).unwrap()).unwrap();
            enc.write_image::<colortype::Gray8>(16, 16, &[7u8; 256])
                .unwrap();
        }
        let f = &read_image(&plain).unwrap().frames[0];
        assert_eq!(f.pixel_size_angstrom, None);
        assert_eq!(f.data[0], 7.0);

        let cm = dir.path().join("cm.tif");
        {
            let mut enc = TiffEncoder::new(std::fs::File::create(&cm).unwrap()).unwrap();
            let mut img = enc.new_image::<colortype::Gray32Float>(16, 16).unwrap();
            img.resolution_unit(ResolutionUnit::Centimeter);
            // 1e9 px per cm = 0.1 Å/px
            img.x_resolution(Rational {
                n: 1_000_000_000,
                d: 1,
            });
            img.y_resolution(Rational {
                n: 1_000_000_000,
                d: 1,
            });
            img.write_data(&[1.5f32; 256]).unwrap();
        }
        let f = &read_image(&cm).unwrap().frames[0];
        assert!((f.pixel_size_angstrom.unwrap() - 0.1).abs() < 1e-9);
    }

    #[test]
    fn refuses_truncated_and_unknown_files() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.tif");
        std::fs::write(&bad, b"II*\0\x08\0\0\0").unwrap();
        let e = read_image(&bad).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Decode);
        assert!(e.to_string().contains("bad.tif"));
        let xyz = dir.path().join("x.xyz");
        std::fs::write(&xyz, b"data").unwrap();
        assert_eq!(read_image(&xyz).unwrap_err().kind, ErrorKind::Unsupported);
    }

    #[test]
    fn planar_rgb_is_refused_for_what_it_is() {
        // tifffile.imwrite(..., photometric='rgb', planarconfig='separate'), 3×16×20 uint8.
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/planar_rgb.tif");
        let e = read_image(&p).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("planar"), "{e}");
    }

    #[test]
    fn declared_sizes_beyond_the_limit_are_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wide.tif");
        {
            let mut enc = TiffEncoder::new(std::fs::File::create(&p).unwrap()).unwrap();
            enc.write_image::<colortype::Gray8>(64, 32, &[1u8; 64 * 32])
                .unwrap();
        }
        let small = ReadOptions {
            max_frame_pixels: 1000,
            ..ReadOptions::default()
        };
        let e = read_image_with(&p, &small).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.to_string().contains("64×32"), "{e}");
        assert!(read_image(&p).is_ok());
    }

    #[test]
    fn rgb_png_is_converted_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rgb.png");
        let rgb: Vec<u8> = (0..8 * 8).flat_map(|_| [30u8, 60, 90]).collect();
        crate::io::png::write(&p, 8, 8, 3, &rgb).unwrap();
        let l = read_image(&p).unwrap();
        assert_eq!(l.frames[0].data[0], 60.0);
        assert!(l.warnings.iter().any(|w| w.contains("RGB")));
    }

    #[test]
    fn units() {
        assert_eq!(unit_to_angstrom("nm"), Some(10.0));
        assert_eq!(unit_to_angstrom("µm"), Some(1e4));
        assert_eq!(unit_to_angstrom("micron"), Some(1e4));
        assert_eq!(unit_to_angstrom("angstrom"), Some(1.0));
        assert_eq!(unit_to_angstrom("pm"), Some(0.01));
        assert_eq!(unit_to_angstrom("pixel"), None);
        assert_eq!(
            imagej_unit("ImageJ=1.53t\nunit=nm\nspacing=1\n"),
            Some("nm".into())
        );
        assert_eq!(imagej_unit("hello\nunit=nm"), None);
    }
}

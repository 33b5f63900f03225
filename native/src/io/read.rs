//! Reading microscope images: dispatch on the extension to TIFF (8/16/32-bit integer or
//! float, stacks) and PNG (here), Velox EMD (`emd`), DM3/DM4 (`dm`), SER/EMI (`ser`), MRC
//! (`mrc`).
//!
//! Calibration is read from the ImageJ description (`unit=nm`, with the pixel
//! size in XResolution as pixels per unit) or from the TIFF resolution tags
//! with ResolutionUnit = centimetre. Inch resolution is ignored: it is what
//! uncalibrated files carry by default (72 dpi), never a STEM calibration.

use super::{Acquisition, ReadOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::Tag;
use tiff::ColorType;

/// Frames of one file, with what the reader had to say about them.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub frames: Vec<Image>,
    /// Things the user should know (e.g. RGB converted to gray).
    pub warnings: Vec<String>,
    /// What the file says about the acquisition (empty for TIFF and PNG).
    pub acquisition: Acquisition,
}

impl Loaded {
    /// Frames without warnings or acquisition metadata.
    pub fn frames(frames: Vec<Image>) -> Self {
        Loaded {
            frames,
            warnings: Vec::new(),
            acquisition: Acquisition::default(),
        }
    }
}

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
        "tif" | "tiff" => read_tiff(path, options),
        "png" => read_png(path, options),
        "emd" => super::emd::read_emd(path, options),
        "dm3" | "dm4" => super::dm::read_dm(path, options),
        "ser" | "emi" => super::ser::read_ser(path, options),
        "mrc" => super::mrc::read_mrc(path, options),
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

/// The most a compressed byte can expand to: deflate's limit is about 1032:1 (LZW and
/// PackBits expand less), so no TIFF or PNG of n bytes honestly holds more than
/// `MAX_EXPANSION × n` bytes of pixels.
pub const MAX_EXPANSION: usize = 1100;

/// The `tiff` crate's allocation limits, raised only as far as the largest frame the
/// engine reads (8 bytes a sample for f64, 4 samples for RGBA) and no further than the
/// file's own size allows compressed data to expand.
fn tiff_limits(options: &ReadOptions, file_len: usize) -> Limits {
    let mut limits = Limits::default();
    let budget = options
        .max_frame_pixels
        .saturating_mul(8 * 4)
        .min(file_len.saturating_mul(MAX_EXPANSION));
    limits.decoding_buffer_size = budget;
    limits.intermediate_buffer_size = budget;
    limits
}

/// An uncompressed frame must be in the file: its declared bytes cannot exceed the
/// file's length (a 150-byte header declaring 16384² pixels is refused before the
/// decoder allocates for them).
fn check_uncompressed<R: std::io::Read + std::io::Seek>(
    dec: &mut Decoder<R>,
    width: usize,
    height: usize,
    file_len: usize,
) -> Result<()> {
    let compression = dec
        .find_tag_unsigned::<u16>(Tag::Compression)
        .ok()
        .flatten()
        .unwrap_or(1);
    if compression != 1 {
        return Ok(());
    }
    let samples = dec
        .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
        .ok()
        .flatten()
        .unwrap_or(1)
        .max(1) as usize;
    let bits = dec
        .find_tag_unsigned::<u16>(Tag::BitsPerSample)
        .ok()
        .flatten()
        .unwrap_or(8)
        .max(1) as usize;
    let bytes = width
        .saturating_mul(height)
        .saturating_mul(samples)
        .saturating_mul(bits)
        / 8;
    if bytes > file_len {
        return Err(Error::new(
            ErrorKind::Decode,
            format!(
                "the TIFF declares {width}×{height} uncompressed pixels ({bytes} bytes) but the \
                 file has {file_len} bytes: truncated or corrupt"
            ),
        ));
    }
    Ok(())
}

fn read_tiff(path: &Path, options: &ReadOptions) -> Result<Loaded> {
    let file = File::open(path).map_err(|e| Error::decode(path, e))?;
    let file_len = file
        .metadata()
        .map(|m| usize::try_from(m.len()).unwrap_or(usize::MAX))
        .map_err(|e| Error::decode(path, e))?;
    let mut dec = Decoder::new(BufReader::new(file))
        .map_err(|e| Error::decode(path, format!("not a readable TIFF ({e})")))?
        .with_limits(tiff_limits(options, file_len));
    let mut frames = Vec::new();
    let mut warnings = Vec::new();
    let mut pixel_size = None;
    loop {
        let (w, h) = dec
            .dimensions()
            .map_err(|e| Error::decode(path, format!("bad TIFF header ({e})")))?;
        options
            .check_size(w as usize, h as usize, frames.len() + 1)
            .map_err(|e| e.with_path(path))?;
        check_uncompressed(&mut dec, w as usize, h as usize, file_len)
            .map_err(|e| e.with_path(path))?;
        if frames.is_empty() {
            pixel_size = tiff_pixel_size(&mut dec, &super::tiff::descriptions(path));
        }
        let color = dec
            .colortype()
            .map_err(|e| Error::decode(path, format!("unsupported TIFF colour type ({e})")))?;
        // Separate colour planes (PlanarConfiguration = 2) decode as one plane only, which
        // would otherwise read as a truncated file.
        let planar = dec
            .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
            .ok()
            .flatten();
        if planar == Some(2) && !matches!(color, ColorType::Gray(_)) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "TIFF stores its colour channels as separate planes (planar RGB), which is \
                 not supported; save it as grayscale (HAADF data are one channel)",
            )
            .with_path(path));
        }
        let data = dec
            .read_image()
            .map_err(|e| Error::decode(path, format!("cannot decode TIFF pixels ({e})")))?;
        let values = to_f32(data);
        let (w, h) = (w as usize, h as usize);
        let channels = match color {
            ColorType::Gray(_) => 1,
            ColorType::RGB(_) => 3,
            ColorType::RGBA(_) => 4,
            ColorType::GrayA(_) => 2,
            other => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                    "TIFF colour type {other:?} is not supported; save as 8/16/32-bit grayscale"
                ),
                ))
            }
        };
        if values.len() < w * h * channels {
            return Err(Error::decode(
                path,
                "TIFF is truncated (fewer pixels than its size)",
            ));
        }
        let gray = to_gray(values, w * h, channels, &mut warnings);
        frames.push(Image::from_vec(w, h, pixel_size, gray));
        if !dec.more_images() {
            break;
        }
        if dec.next_image().is_err() {
            warnings.push(format!(
                "stopped reading after frame {} (damaged IFD)",
                frames.len()
            ));
            break;
        }
    }
    Ok(Loaded {
        frames,
        warnings,
        acquisition: Acquisition::default(),
    })
}

fn to_f32(data: DecodingResult) -> Vec<f32> {
    match data {
        DecodingResult::U8(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::U16(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::U32(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::U64(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::F32(v) => v,
        DecodingResult::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::I8(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::I16(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::I32(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::I64(v) => v.into_iter().map(|x| x as f32).collect(),
    }
}

/// Interleaved channels to one gray channel (alpha dropped), warning once.
fn to_gray(values: Vec<f32>, n: usize, channels: usize, warnings: &mut Vec<String>) -> Vec<f32> {
    if channels == 1 {
        let mut v = values;
        v.truncate(n);
        return v;
    }
    let color = channels >= 3;
    let msg = if color {
        "RGB image converted to gray (mean of R, G, B); HAADF data should be saved as grayscale"
    } else {
        "alpha channel dropped"
    };
    if !warnings.iter().any(|w| w == msg) {
        warnings.push(msg.to_string());
    }
    (0..n)
        .map(|i| {
            let p = &values[i * channels..(i + 1) * channels];
            if color {
                (p[0] + p[1] + p[2]) / 3.0
            } else {
                p[0]
            }
        })
        .collect()
}

/// Å per pixel from the TIFF tags, if the file carries a usable calibration.
/// The unit comes from the ImageJ description wherever it stands among the file's
/// descriptions (tifffile writes its own before ImageJ's).
fn tiff_pixel_size<R: std::io::Read + std::io::Seek>(
    dec: &mut Decoder<R>,
    descriptions: &[String],
) -> Option<f64> {
    let xres = rational(dec.find_tag(Tag::XResolution).ok().flatten()?)?;
    if !(xres.is_finite() && xres > 0.0) {
        return None;
    }
    let per_unit = 1.0 / xres;
    if let Some(unit) = descriptions.iter().find_map(|d| imagej_unit(d)) {
        return unit_to_angstrom(&unit).map(|f| per_unit * f);
    }
    match dec
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten()
    {
        Some(3) => Some(per_unit * 1e8),
        _ => None,
    }
}

fn rational(v: tiff::decoder::ifd::Value) -> Option<f64> {
    use tiff::decoder::ifd::Value;
    match v {
        Value::Rational(n, d) if d != 0 => Some(n as f64 / d as f64),
        Value::RationalBig(n, d) if d != 0 => Some(n as f64 / d as f64),
        Value::Float(f) => Some(f as f64),
        Value::Double(f) => Some(f),
        _ => None,
    }
}

/// The `unit=` line of an ImageJ description (`ImageJ=1.53t\nunit=nm\n...`).
pub fn imagej_unit(description: &str) -> Option<String> {
    if !description.starts_with("ImageJ") {
        return None;
    }
    description.lines().find_map(|l| {
        l.strip_prefix("unit=")
            .map(|u| u.trim().trim_matches('"').to_string())
    })
}

/// How many Å one `unit` is; `None` for units that are not lengths (e.g. "pixel").
pub fn unit_to_angstrom(unit: &str) -> Option<f64> {
    let u = unit.trim();
    let lower = u.to_lowercase();
    match lower.as_str() {
        "a" | "å" | "angstrom" | "angstroms" | "ångström" | "\\u00c5" => Some(1.0),
        "nm" | "nanometer" | "nanometers" | "nanometre" => Some(10.0),
        "pm" | "picometer" | "picometers" => Some(0.01),
        "um" | "µm" | "μm" | "micron" | "microns" | "micrometer" | "micrometers" => Some(1e4),
        "mm" => Some(1e7),
        "cm" => Some(1e8),
        "m" => Some(1e10),
        _ => None,
    }
}

fn read_png(path: &Path, options: &ReadOptions) -> Result<Loaded> {
    let file = File::open(path).map_err(|e| Error::decode(path, e))?;
    let file_len = file
        .metadata()
        .map(|m| usize::try_from(m.len()).unwrap_or(usize::MAX))
        .map_err(|e| Error::decode(path, e))?;
    // 4 channels of 16 bits at most per pixel, and no more than deflate can expand to.
    let limits = png::Limits {
        bytes: options
            .max_frame_pixels
            .saturating_mul(8)
            .min(file_len.saturating_mul(MAX_EXPANSION)),
    };
    let mut decoder = png::Decoder::new_with_limits(BufReader::new(file), limits);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder
        .read_info()
        .map_err(|e| Error::decode(path, format!("not a readable PNG ({e})")))?;
    {
        let info = reader.info();
        options
            .check_size(info.width as usize, info.height as usize, 1)
            .map_err(|e| e.with_path(path))?;
    }
    let needed = reader.output_buffer_size();
    if needed > file_len.saturating_mul(MAX_EXPANSION) {
        return Err(Error::decode(
            path,
            format!("the PNG declares {needed} bytes of pixels, more than its {file_len} bytes can hold"),
        ));
    }
    let mut buf = vec![0; needed];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| Error::decode(path, format!("cannot decode PNG pixels ({e})")))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let bytes = &buf[..info.buffer_size()];
    let values: Vec<f32> = match info.bit_depth {
        png::BitDepth::Sixteen => bytes
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]) as f32)
            .collect(),
        _ => bytes.iter().map(|&b| b as f32).collect(),
    };
    if values.len() < w * h * channels {
        return Err(Error::decode(path, "PNG is truncated"));
    }
    let mut warnings = Vec::new();
    let gray = to_gray(values, w * h, channels, &mut warnings);
    Ok(Loaded {
        frames: vec![Image::from_vec(w, h, None, gray)],
        warnings,
        acquisition: Acquisition::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use tiff::encoder::{colortype, Rational, TiffEncoder};
    use tiff::tags::ResolutionUnit;

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

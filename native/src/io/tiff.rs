//! TIFF writing with a calibration that ImageJ/Fiji and tifffile both read:
//! XResolution/YResolution = pixels per Å and an ImageJ description with `unit=angstrom`;
//! and every ImageDescription of a file's first directory, which the `tiff` crate does
//! not give when a file holds more than one (tifffile writes its own JSON description
//! before ImageJ's).

use super::frames::{to_gray, Acquisition, Loaded, ReadOptions, MAX_EXPANSION};
use super::units::{imagej_unit, unit_to_angstrom};
use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use std::fs::File;
use std::io::BufReader;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::encoder::{colortype, Rational, TiffEncoder, TiffKindStandard};
use tiff::tags::{ResolutionUnit, Tag};
use tiff::ColorType;

fn description(pixel_size_angstrom: Option<f64>) -> String {
    let mut d = String::from("ImageJ=1.53t\nimages=1\n");
    if pixel_size_angstrom.is_some() {
        d.push_str("unit=angstrom\n");
    }
    d
}

/// Pixels per Å as a rational with enough precision for sub-picometre pixel sizes.
fn resolution(pixel_size_angstrom: f64) -> Rational {
    let d = 1_000_000u32;
    Rational {
        n: (d as f64 / pixel_size_angstrom).round() as u32,
        d,
    }
}

macro_rules! write_gray {
    ($name:ident, $ty:ty, $color:ty) => {
        /// Write a single-channel image, calibrated when the pixel size is known.
        pub fn $name(
            path: &Path,
            width: usize,
            height: usize,
            data: &[$ty],
            pixel_size_angstrom: Option<f64>,
        ) -> Result<()> {
            let file = File::create(path).map_err(|e| Error::io(path, e))?;
            let io = |e: tiff::TiffError| Error::io(path, e);
            let mut out = BufWriter::new(file);
            {
                let mut enc: TiffEncoder<_, TiffKindStandard> =
                    TiffEncoder::new(&mut out).map_err(io)?;
                let mut img = enc
                    .new_image::<$color>(width as u32, height as u32)
                    .map_err(io)?;
                img.encoder()
                    .write_tag(
                        Tag::ImageDescription,
                        description(pixel_size_angstrom).as_str(),
                    )
                    .map_err(io)?;
                if let Some(px) = pixel_size_angstrom {
                    img.resolution_unit(ResolutionUnit::None);
                    img.x_resolution(resolution(px));
                    img.y_resolution(resolution(px));
                }
                img.write_data(data).map_err(io)?;
            }
            // A failed flush (a full disk) is an error here, not lost in a drop.
            out.flush().map_err(|e| Error::io(path, e))
        }
    };
}

write_gray!(write_f32, f32, colortype::Gray32Float);
write_gray!(write_u8, u8, colortype::Gray8);

/// Longest description read: ImageJ's are a few hundred bytes, tifffile's JSON a few kB.
const MAX_DESCRIPTION: u64 = 1 << 20;
/// Most entries read from one directory (baseline files use about 20).
const MAX_ENTRIES: u64 = 4096;

/// Every ASCII ImageDescription (tag 270) of the first directory, in file order, in
/// classic and BigTIFF files of either byte order. A malformed directory gives what
/// could be read; offsets and lengths are checked against the file before reading.
pub fn descriptions(path: &Path) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    scan_descriptions(&mut file, len).unwrap_or_default()
}

fn scan_descriptions<R: Read + Seek>(r: &mut R, len: u64) -> Option<Vec<String>> {
    let mut read_at = |at: u64, n: u64| -> Option<Vec<u8>> {
        if at.checked_add(n)? > len {
            return None;
        }
        let mut buf = vec![0u8; n as usize];
        r.seek(SeekFrom::Start(at)).ok()?;
        r.read_exact(&mut buf).ok()?;
        Some(buf)
    };
    let head = read_at(0, 16.min(len))?;
    let little = match head.get(0..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let uint = |b: &[u8]| -> u64 {
        let mut v = 0u64;
        for (i, &x) in b.iter().enumerate() {
            let shift = if little { i } else { b.len() - 1 - i };
            v |= (x as u64) << (8 * shift);
        }
        v
    };
    let big = match uint(head.get(2..4)?) {
        42 => false,
        43 => true,
        _ => return None,
    };
    // Entry layout: classic 12 bytes (tag, type, u32 count, 4-byte value/offset);
    // BigTIFF 20 bytes (tag, type, u64 count, 8-byte value/offset).
    let (ifd, count_size, entry_size, inline) = if big {
        (uint(head.get(8..16)?), 8u64, 20u64, 8u64)
    } else {
        (uint(head.get(4..8)?), 2u64, 12u64, 4u64)
    };
    let entries = uint(&read_at(ifd, count_size)?).min(MAX_ENTRIES);
    let table = read_at(ifd + count_size, entries * entry_size)?;
    let mut out = Vec::new();
    for e in table.chunks_exact(entry_size as usize) {
        let (tag, kind) = (uint(&e[0..2]), uint(&e[2..4]));
        if tag != 270 || kind != 2 {
            continue;
        }
        let (count, value) = if big {
            (uint(&e[4..12]), &e[12..20])
        } else {
            (uint(&e[4..8]), &e[8..12])
        };
        if count > MAX_DESCRIPTION {
            continue;
        }
        let bytes = if count <= inline {
            value[..count as usize].to_vec()
        } else {
            match read_at(uint(value), count) {
                Some(b) => b,
                None => continue,
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        out.push(text.trim_end_matches('\0').to_string());
    }
    Some(out)
}

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

pub(crate) fn read_tiff(path: &Path, options: &ReadOptions) -> Result<Loaded> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A little-endian 2×1 8-bit TIFF with the given ImageDescription entries, in order,
    /// as tifffile writes one with its own description before ImageJ's, and optionally
    /// `pixels_per_unit` as X/YResolution.
    pub(crate) fn with_descriptions(texts: &[&str], pixels_per_unit: Option<u32>) -> Vec<u8> {
        let mut entries: Vec<(u16, u16, u32, Vec<u8>)> = vec![
            (256, 3, 1, 2u32.to_le_bytes().to_vec()),
            (257, 3, 1, 1u32.to_le_bytes().to_vec()),
            (258, 3, 1, 8u32.to_le_bytes().to_vec()),
            (259, 3, 1, 1u32.to_le_bytes().to_vec()),
            (262, 3, 1, 1u32.to_le_bytes().to_vec()),
        ];
        for t in texts {
            let mut b = t.as_bytes().to_vec();
            b.push(0);
            entries.push((270, 2, b.len() as u32, b));
        }
        entries.push((273, 4, 1, vec![]));
        entries.push((277, 3, 1, 1u32.to_le_bytes().to_vec()));
        entries.push((278, 3, 1, 1u32.to_le_bytes().to_vec()));
        entries.push((279, 4, 1, 2u32.to_le_bytes().to_vec()));
        if let Some(n) = pixels_per_unit {
            let rational: Vec<u8> = n
                .to_le_bytes()
                .into_iter()
                .chain(1u32.to_le_bytes())
                .collect();
            entries.push((282, 5, 1, rational.clone()));
            entries.push((283, 5, 1, rational));
        }
        let dir_len = 2 + 12 * entries.len() + 4;
        let mut data_at = 8 + dir_len;
        let mut out = b"II*\0".to_vec();
        out.extend(8u32.to_le_bytes());
        out.extend((entries.len() as u16).to_le_bytes());
        let mut tail: Vec<u8> = Vec::new();
        let pixels_at = data_at
            + entries
                .iter()
                .map(|e| if e.3.len() > 4 { e.3.len() } else { 0 })
                .sum::<usize>();
        for (tag, kind, count, value) in &entries {
            out.extend(tag.to_le_bytes());
            out.extend(kind.to_le_bytes());
            out.extend(count.to_le_bytes());
            if *tag == 273 {
                out.extend((pixels_at as u32).to_le_bytes());
            } else if value.len() <= 4 {
                let mut v = value.clone();
                v.resize(4, 0);
                out.extend(v);
            } else {
                out.extend((data_at as u32).to_le_bytes());
                tail.extend(value);
                data_at += value.len();
            }
        }
        out.extend(0u32.to_le_bytes());
        out.extend(tail);
        out.extend([10u8, 20]);
        out
    }

    #[test]
    fn every_description_is_found_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.tif");
        let json = "{\"shape\": [1, 2]}";
        let ij = "ImageJ=1.53t\nunit=nm\n";
        std::fs::write(&path, with_descriptions(&[json, ij], None)).unwrap();
        assert_eq!(descriptions(&path), vec![json.to_string(), ij.to_string()]);
        // A short one stored inline in the entry, and a file with none.
        std::fs::write(&path, with_descriptions(&["abc"], None)).unwrap();
        assert_eq!(descriptions(&path), vec!["abc".to_string()]);
        std::fs::write(&path, with_descriptions(&[], None)).unwrap();
        assert!(descriptions(&path).is_empty());
    }

    #[test]
    fn a_description_beyond_the_file_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.tif");
        let mut bytes = with_descriptions(&["ImageJ=1.53t\nunit=nm\n"], None);
        bytes.truncate(bytes.len() - 30);
        std::fs::write(&path, bytes).unwrap();
        assert!(descriptions(&path).is_empty());
        std::fs::write(&path, b"II*\0\xff\xff\xff\xff").unwrap();
        assert!(descriptions(&path).is_empty());
    }
}

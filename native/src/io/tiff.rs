//! TIFF writing with a calibration that ImageJ/Fiji and tifffile both read:
//! XResolution/YResolution = pixels per Å and an ImageJ description with `unit=angstrom`;
//! and every ImageDescription of a file's first directory, which the `tiff` crate does
//! not give when a file holds more than one (tifffile writes its own JSON description
//! before ImageJ's).

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use tiff::encoder::{colortype, Rational, TiffEncoder, TiffKindStandard};
use tiff::tags::{ResolutionUnit, Tag};

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

//! FEI/Thermo TIA files: `.ser` (the pixels) with its `.emi` (the metadata).
//!
//! TIA writes one SER file per detector/signal, `<stem>_1.ser`, `<stem>_2.ser`, …, next
//! to one `<stem>.emi`. A SER file is a little-endian "series": a header (ByteOrder
//! 0x4949, SeriesID 0x0197, SeriesVersion 0x0210 with 32-bit offsets or 0x0220 with
//! 64-bit ones, DataTypeID, TagTypeID, element counts, the offset of the data-offset
//! array, the series dimensions), then one data element per image. A 2D element holds
//! the X and Y calibrations (offset, delta in metres per pixel, reference element),
//! the pixel type, the array size X × Y, and the pixels.
//!
//! Read: 2D image series (DataTypeID 0x4122) of 8/16/32-bit integers and 32/64-bit
//! floats; every valid element is one frame, with the pixel size CalibrationDeltaX ×
//! 1e10 Å. TIA stores the bottom row first (HyperSpy and ncempy both flip the rows), so
//! the rows are reversed here: row 0 of each frame is the top of the image TIA displays.
//!
//! Refused, with one clear error: 1D spectra (DataTypeID 0x4120), complex pixels,
//! non-square pixels, big-endian or unknown series versions, and any count, offset or
//! size that does not fit in the file or in `ReadOptions` (checked before allocating).
//!
//! The EMI is an OLE-like binary; it is not parsed, only searched: each signal's record
//! holds a length-prefixed title ("Acquire HAADF"), the Windows path of its SER file and
//! an XML `<ObjectInfo>` with the acceleration voltage, dwell time, magnification and the
//! microscope's description. Given an EMI, the detector is chosen among its SER files
//! with [`super::pick_detector`]; given a SER, its EMI is looked up for the metadata
//! only, and a SER without an EMI is read alone.

use super::frames::Loaded;
use super::frames::{pick_detector, Acquisition, ReadOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const BYTE_ORDER_LE: u16 = 0x4949;
const BYTE_ORDER_BE: u16 = 0x4D4D;
const SERIES_ID: u16 = 0x0197;
const IMAGE_2D: u32 = 0x4122;
const SPECTRUM_1D: u32 = 0x4120;
/// Bytes of a 2D element before its pixels: 2 × (f64, f64, i32), u16, 2 × i32.
const ELEMENT_HEADER: usize = 50;
/// Largest EMI searched for metadata (it may hold a copy of the last image).
const MAX_EMI_BYTES: u64 = 1 << 30;

/// Reads a SER file (or, given an EMI, the SER file of the chosen detector), with its
/// calibration and, when the EMI is there, the acquisition metadata.
pub fn read_ser(path: &Path, options: &ReadOptions) -> Result<Loaded> {
    let is_emi = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("emi"));
    if is_emi {
        read_via_emi(path, options)
    } else {
        read_named_ser(path, options)
    }
}

/// What the EMI says about one SER file: its detector and its `<ObjectInfo>` XML.
#[derive(Debug, Default, Clone)]
struct Signal {
    name: Option<String>,
    xml: Option<String>,
}

/// An EMI path: read the SER file of the detector `options` asks for (else the HAADF).
fn read_via_emi(emi_path: &Path, options: &ReadOptions) -> Result<Loaded> {
    let stem = file_stem(emi_path);
    let sers = sibling_sers(emi_path, &stem);
    if sers.is_empty() {
        return Err(Error::decode(
            emi_path,
            format!(
                "no SER file next to the EMI (expected {stem}_1.ser, where TIA keeps the pixels)"
            ),
        ));
    }
    let mut warnings = Vec::new();
    let numbers: Vec<u32> = sers.iter().map(|(n, _)| *n).collect();
    let signals = match read_emi(emi_path)? {
        Some(bytes) => emi_signals(&bytes, &numbers),
        None => {
            warnings.push("the EMI is too large to search for metadata; read the SER alone".into());
            vec![Signal::default(); sers.len()]
        }
    };
    let labels: Vec<String> = signals
        .iter()
        .zip(&sers)
        .map(|(s, (_, p))| s.name.clone().unwrap_or_else(|| file_stem(p)))
        .collect();
    let pick =
        pick_detector(&labels, options.detector.as_deref()).map_err(|e| e.with_path(emi_path))?;
    if sers.len() > 1 {
        warnings.push(format!(
            "the EMI has {} SER files ({}); read the {} one",
            sers.len(),
            labels.join(", "),
            labels[pick]
        ));
    }
    let mut loaded = load(&sers[pick].1, options, &signals[pick])?;
    warnings.append(&mut loaded.warnings);
    loaded.warnings = warnings;
    if sers.len() > 1 {
        loaded.acquisition.detectors_in_file = labels;
    }
    Ok(loaded)
}

/// A SER path: read it, with the metadata of its EMI (`<stem>.emi` for `<stem>_N.ser`).
fn read_named_ser(path: &Path, options: &ReadOptions) -> Result<Loaded> {
    let stem = file_stem(path);
    let signal = match split_ser_stem(&stem) {
        Some((base, n)) => ser_signal(path, base, n),
        None => Signal::default(),
    };
    let mut loaded = load(path, options, &signal)?;
    if let (Some(wanted), Some(name)) = (&options.detector, &signal.name) {
        if !name
            .to_ascii_uppercase()
            .contains(&wanted.to_ascii_uppercase())
        {
            loaded.warnings.push(format!(
                "this SER file holds the {name} image; to choose the detector, open the EMI"
            ));
        }
    }
    Ok(loaded)
}

/// The EMI's description of SER file number `n` (empty when there is no readable EMI).
fn ser_signal(ser_path: &Path, base: &str, n: u32) -> Signal {
    let dir = parent_dir(ser_path);
    let emi = ["emi", "EMI"]
        .iter()
        .map(|ext| dir.join(format!("{base}.{ext}")))
        .find(|p| p.is_file());
    let Some(emi) = emi else {
        return Signal::default();
    };
    let mut numbers: Vec<u32> = sibling_sers(&emi, base).iter().map(|(k, _)| *k).collect();
    if !numbers.contains(&n) {
        numbers.push(n);
        numbers.sort_unstable();
    }
    let Ok(Some(bytes)) = read_emi(&emi) else {
        return Signal::default();
    };
    let at = numbers.iter().position(|&k| k == n).unwrap_or(0);
    emi_signals(&bytes, &numbers)
        .into_iter()
        .nth(at)
        .unwrap_or_default()
}

/// Reads one SER file and attaches what the EMI says about it.
fn load(ser_path: &Path, options: &ReadOptions, signal: &Signal) -> Result<Loaded> {
    let (mut frames, mut warnings) = read_ser_file(ser_path, options)?;
    let mut acquisition = signal
        .xml
        .as_deref()
        .map(acquisition_from)
        .unwrap_or_default();
    acquisition.detector = signal.name.clone();
    let reciprocal = signal.xml.as_deref().is_some_and(is_reciprocal);
    if reciprocal && frames.iter().any(|f| f.pixel_size_angstrom.is_some()) {
        warnings.push(
            "the EMI describes a diffraction pattern (calibration in 1/m): pixel size left unset"
                .into(),
        );
        for f in &mut frames {
            f.pixel_size_angstrom = None;
        }
    }
    Ok(Loaded {
        frames,
        warnings,
        acquisition,
    })
}

// ---------------------------------------------------------------------------------
// The SER file itself.

/// A file read piece by piece, every piece checked against the file's length first.
struct Source<'a> {
    file: File,
    len: u64,
    path: &'a Path,
}

impl<'a> Source<'a> {
    fn open(path: &'a Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::decode(path, e))?;
        let len = file.metadata().map_err(|e| Error::decode(path, e))?.len();
        Ok(Source { file, len, path })
    }

    /// `n` bytes at `offset`, refused before allocating when they pass the end.
    fn read_at(&mut self, offset: u64, n: u64, what: &str) -> Result<Vec<u8>> {
        if offset.checked_add(n).filter(|&e| e <= self.len).is_none() {
            return Err(Error::decode(
                self.path,
                format!(
                    "{what} ({n} bytes at byte {offset}) runs past the end of the {}-byte file: it is truncated or corrupt",
                    self.len
                ),
            ));
        }
        let mut buf = vec![0u8; n as usize];
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| Error::decode(self.path, format!("cannot read {what} ({e})")))?;
        Ok(buf)
    }
}

/// The series header fields the reader needs.
#[derive(Debug)]
struct SerHeader {
    /// Offsets are u64 (SeriesVersion ≥ 0x0220) rather than u32.
    wide: bool,
    valid: u64,
    offset_array: u64,
    dimensions: u32,
}

fn parse_header(b: &[u8], path: &Path) -> Result<SerHeader> {
    let bad = |m: String| Error::decode(path, m);
    let order = le_u16(b, 0).ok_or_else(|| bad("too short for a SER header".into()))?;
    if order == BYTE_ORDER_BE {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "big-endian SER files are not supported",
        )
        .with_path(path));
    }
    if order != BYTE_ORDER_LE || le_u16(b, 2) != Some(SERIES_ID) {
        return Err(bad("not a TIA SER file (no 0x4949/0x0197 signature)".into()));
    }
    let version = le_u16(b, 4).unwrap_or(0);
    if !(0x0200..0x0300).contains(&version) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("unknown SER series version {version:#06x} (0x0210 and 0x0220 are read)"),
        )
        .with_path(path));
    }
    let wide = version >= 0x0220;
    let data_type = le_u32(b, 6).unwrap_or(0);
    check_data_type(data_type, path)?;
    let short = || bad("the SER header is truncated".into());
    let total = u64::from(le_u32(b, 14).ok_or_else(short)?);
    let valid = u64::from(le_u32(b, 18).ok_or_else(short)?);
    let (offset_array, dims_at) = if wide {
        (le_u64(b, 22).ok_or_else(short)?, 30)
    } else {
        (u64::from(le_u32(b, 22).ok_or_else(short)?), 26)
    };
    let dimensions = le_u32(b, dims_at).ok_or_else(short)?;
    if valid > total {
        return Err(bad(format!(
            "the SER header declares {valid} valid elements of {total}"
        )));
    }
    if valid == 0 {
        return Err(bad("the SER file holds no image (no valid element: the acquisition stopped before the first one, or a single spectrum kept in the EMI)".into()));
    }
    Ok(SerHeader {
        wide,
        valid,
        offset_array,
        dimensions,
    })
}

fn check_data_type(data_type: u32, path: &Path) -> Result<()> {
    match data_type {
        IMAGE_2D => Ok(()),
        SPECTRUM_1D => Err(Error::new(
            ErrorKind::Unsupported,
            "this SER file holds 1D spectrum data (DataTypeID 0x4120), not images",
        )
        .with_path(path)),
        other => Err(Error::decode(
            path,
            format!("unknown SER DataTypeID {other:#06x} (0x4122 images are read)"),
        )),
    }
}

/// The header of one 2D data element.
#[derive(Debug, Clone, PartialEq)]
struct Element {
    delta_x: f64,
    delta_y: f64,
    data_type: u16,
    width: usize,
    height: usize,
}

impl Element {
    fn parse(b: &[u8], path: &Path) -> Result<Self> {
        let bad = |m: String| Error::decode(path, m);
        let short = || bad("a SER element header is truncated".into());
        let delta_x = le_f64(b, 8).ok_or_else(short)?;
        let delta_y = le_f64(b, 28).ok_or_else(short)?;
        let data_type = le_u16(b, 40).ok_or_else(short)?;
        let width = le_i32(b, 42).ok_or_else(short)?;
        let height = le_i32(b, 46).ok_or_else(short)?;
        if width <= 0 || height <= 0 {
            return Err(bad(format!(
                "a SER element declares a {width}×{height} image"
            )));
        }
        pixel_type_bytes(data_type, path)?;
        Ok(Element {
            delta_x,
            delta_y,
            data_type,
            width: width as usize,
            height: height as usize,
        })
    }

    /// Bytes of pixels; callers have checked the size with `ReadOptions::check_size`.
    fn data_bytes(&self) -> u64 {
        let bps = bytes_per_sample(self.data_type).unwrap_or(8) as u64;
        (self.width as u64)
            .saturating_mul(self.height as u64)
            .saturating_mul(bps)
    }
}

/// Bytes per pixel of a real SER DataType (1 = u8 … 8 = f64).
fn bytes_per_sample(data_type: u16) -> Option<usize> {
    match data_type {
        1 | 4 => Some(1),
        2 | 5 => Some(2),
        3 | 6 | 7 => Some(4),
        8 => Some(8),
        _ => None,
    }
}

/// Bytes per pixel of a SER DataType; complex and unknown types are refused.
fn pixel_type_bytes(data_type: u16, path: &Path) -> Result<usize> {
    if let Some(n) = bytes_per_sample(data_type) {
        return Ok(n);
    }
    match data_type {
        9 | 10 => Err(Error::new(
            ErrorKind::Unsupported,
            "this SER file holds complex pixels, which the engine does not analyze",
        )
        .with_path(path)),
        other => Err(Error::decode(
            path,
            format!("unknown SER pixel type {other}"),
        )),
    }
}

/// Reads every valid element of a SER file as one frame each.
fn read_ser_file(path: &Path, options: &ReadOptions) -> Result<(Vec<Image>, Vec<String>)> {
    let mut src = Source::open(path)?;
    let head_len = src.len.min(34);
    let header = parse_header(&src.read_at(0, head_len, "the SER header")?, path)?;
    let offsets = data_offsets(&mut src, &header)?;
    let first_at = offsets.first().copied().unwrap_or(0);
    let first = Element::parse(
        &src.read_at(first_at, ELEMENT_HEADER as u64, "the first element")?,
        path,
    )?;
    options
        .check_size(first.width, first.height, offsets.len())
        .map_err(|e| e.with_path(path))?;
    let mut warnings = Vec::new();
    let pixel_size = pixel_size(&first, &mut warnings).map_err(|e| e.with_path(path))?;
    if header.dimensions > 1 {
        warnings.push(format!(
            "the SER series has {} dimensions; its {} images are read as frames in file order",
            header.dimensions,
            offsets.len()
        ));
    }
    let mut frames = Vec::with_capacity(offsets.len());
    for (i, &at) in offsets.iter().enumerate() {
        let element = if i == 0 {
            first.clone()
        } else {
            Element::parse(
                &src.read_at(at, ELEMENT_HEADER as u64, "a SER element header")?,
                path,
            )?
        };
        if (element.width, element.height, element.data_type)
            != (first.width, first.height, first.data_type)
        {
            return Err(Error::decode(
                path,
                format!(
                    "SER element {} is {}×{} (type {}), unlike the first one ({}×{}, type {})",
                    i + 1,
                    element.width,
                    element.height,
                    element.data_type,
                    first.width,
                    first.height,
                    first.data_type
                ),
            ));
        }
        let bytes = src.read_at(at + ELEMENT_HEADER as u64, first.data_bytes(), "SER pixels")?;
        let data = rows_bottom_up_to_f32(&bytes, first.width, first.data_type);
        frames.push(Image::from_vec(first.width, first.height, pixel_size, data));
    }
    Ok((frames, warnings))
}

/// The data-offset array: one offset per valid element, each bounded by the file.
fn data_offsets(src: &mut Source, header: &SerHeader) -> Result<Vec<u64>> {
    let width = if header.wide { 8 } else { 4 };
    // Every element needs at least its header: the count cannot exceed what fits.
    if header.valid > src.len / ELEMENT_HEADER as u64 {
        return Err(Error::decode(
            src.path,
            format!(
                "the SER header declares {} images, more than its {} bytes can hold",
                header.valid, src.len
            ),
        ));
    }
    let bytes = src.read_at(
        header.offset_array,
        header.valid * width,
        "the SER offset array",
    )?;
    let offsets: Vec<u64> = if header.wide {
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    } else {
        bytes
            .chunks_exact(4)
            .map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    };
    Ok(offsets)
}

/// Å per pixel from the element's calibration (metres per pixel); `None` when absent or
/// implausible for real space. Non-square pixels are refused.
fn pixel_size(e: &Element, warnings: &mut Vec<String>) -> Result<Option<f64>> {
    let usable = |d: f64| d.is_finite() && d > 0.0;
    if !usable(e.delta_x) || !usable(e.delta_y) {
        return Ok(None);
    }
    let (x, y) = (e.delta_x * 1e10, e.delta_y * 1e10);
    if (x - y).abs() > 1e-3 * x.max(y) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("non-square pixels ({x:.6} Å × {y:.6} Å); the engine needs square pixels"),
        ));
    }
    if !(1e-4..=1e7).contains(&x) {
        warnings.push(format!(
            "the SER calibration ({} per pixel) is not a real-space pixel size: pixel size left unset",
            e.delta_x
        ));
        return Ok(None);
    }
    Ok(Some(x))
}

/// Converts little-endian pixels to `f32`, last stored row first (TIA stores the image
/// bottom-up), so that row 0 is the top of the image.
fn rows_bottom_up_to_f32(bytes: &[u8], width: usize, data_type: u16) -> Vec<f32> {
    let bps = bytes_per_sample(data_type).unwrap_or(1);
    let mut out = Vec::with_capacity(bytes.len() / bps);
    for row in bytes.chunks_exact(width * bps).rev() {
        match data_type {
            1 => out.extend(row.iter().map(|&v| f32::from(v))),
            4 => out.extend(row.iter().map(|&v| f32::from(v as i8))),
            2 => out.extend(
                row.chunks_exact(2)
                    .map(|c| f32::from(u16::from_le_bytes([c[0], c[1]]))),
            ),
            5 => out.extend(
                row.chunks_exact(2)
                    .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]]))),
            ),
            3 => out.extend(
                row.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32),
            ),
            6 => out.extend(
                row.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32),
            ),
            7 => out.extend(
                row.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            _ => out.extend(row.chunks_exact(8).map(|c| {
                f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
            })),
        }
    }
    out
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn le_f64(b: &[u8], at: usize) -> Option<f64> {
    Some(f64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

// ---------------------------------------------------------------------------------
// File names.

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `<base>_<N>` → (`base`, N).
fn split_ser_stem(stem: &str) -> Option<(&str, u32)> {
    let (base, n) = stem.rsplit_once('_')?;
    if base.is_empty() || n.is_empty() || !n.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((base, n.parse().ok()?))
}

/// The `<base>_<N>.ser` files next to `emi`, by N.
fn sibling_sers(emi: &Path, base: &str) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(parent_dir(emi)) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let ext = path.extension()?.to_str()?;
            if !ext.eq_ignore_ascii_case("ser") || !path.is_file() {
                return None;
            }
            let stem = file_stem(&path);
            let (b, n) = split_ser_stem(&stem)?;
            (b == base).then_some((n, path))
        })
        .collect();
    found.sort();
    found
}

// ---------------------------------------------------------------------------------
// The EMI: searched, not parsed.

/// The EMI's bytes, or `None` when it is too large to search.
fn read_emi(path: &Path) -> Result<Option<Vec<u8>>> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::decode(path, e))?
        .len();
    if len > MAX_EMI_BYTES {
        return Ok(None);
    }
    std::fs::read(path)
        .map(Some)
        .map_err(|e| Error::decode(path, e))
}

/// What the EMI says about each SER file (by number, in `numbers` order).
///
/// Each signal's record holds, in this order, its title ("Acquire HAADF"), a copy of its
/// data, the path of its SER file and its `<ObjectInfo>`; so a SER file's detector is the
/// last title before its path, and its XML the first `<ObjectInfo>` after it. Where that
/// fails, titles and XML blocks are matched to the SER files in order.
fn emi_signals(emi: &[u8], numbers: &[u32]) -> Vec<Signal> {
    let refs = ser_references(emi);
    let titles = signal_titles(emi);
    let objects = object_infos(emi);
    let mut distinct: Vec<&String> = Vec::new();
    for (_, t) in &titles {
        if !distinct.contains(&t) {
            distinct.push(t);
        }
    }
    numbers
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut signal = Signal::default();
            if let Some(k) = refs.iter().position(|&(_, m)| m == n) {
                let at = refs[k].0;
                let lo = if k == 0 { 0 } else { refs[k - 1].0 };
                let hi = refs.get(k + 1).map_or(emi.len(), |r| r.0);
                signal.name = titles
                    .iter()
                    .rev()
                    .find(|(p, _)| *p > lo && *p < at)
                    .map(|(_, t)| t.clone());
                signal.xml = objects
                    .iter()
                    .find(|(p, _)| *p > at && *p < hi)
                    .map(|(_, x)| x.clone());
            }
            if signal.name.is_none() && distinct.len() == numbers.len() {
                signal.name = distinct.get(i).map(|t| t.to_string());
            }
            if signal.xml.is_none() {
                let by_order = objects.get(n.saturating_sub(1) as usize);
                let only = (objects.len() == 1).then(|| &objects[0]);
                signal.xml = by_order.or(only).map(|(_, x)| x.clone());
            }
            signal
        })
        .collect()
}

/// Positions of every substring `needle` of `hay` (ASCII case-insensitive).
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return Vec::new();
    }
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| w.eq_ignore_ascii_case(needle))
        .map(|(i, _)| i)
        .collect()
}

/// The length-prefixed (u32 little-endian) text that ends at `end`, if any.
fn prefixed_text_ending_at(b: &[u8], end: usize, max: usize) -> Option<(usize, &[u8])> {
    let printable = |c: u8| c >= 0x20 && c != 0x7f;
    for len in 1..=max.min(end.saturating_sub(4)) {
        let start = end - len;
        if !printable(b[start]) {
            return None;
        }
        if le_u32(b, start - 4) == Some(len as u32) {
            return Some((start, &b[start..end]));
        }
    }
    None
}

/// Every SER file path the EMI names, as (position, N) of `…\<base>_<N>.ser`.
fn ser_references(emi: &[u8]) -> Vec<(usize, u32)> {
    find_all(emi, b".ser")
        .into_iter()
        .filter_map(|i| {
            let (start, text) = prefixed_text_ending_at(emi, i + 4, 1024)?;
            let text = String::from_utf8_lossy(text);
            let name = text.rsplit(['\\', '/']).next()?;
            let stem = name.get(..name.len().checked_sub(4)?)?;
            let (_, n) = split_ser_stem(stem)?;
            Some((start, n))
        })
        .collect()
}

/// Every signal title ("Acquire HAADF" → "HAADF"), with its position.
fn signal_titles(emi: &[u8]) -> Vec<(usize, String)> {
    const PREFIX: &[u8] = b"Acquire ";
    find_all(emi, PREFIX)
        .into_iter()
        .filter_map(|i| {
            let len = le_u32(emi, i.checked_sub(4)?)? as usize;
            if !(PREFIX.len() + 1..=128).contains(&len) {
                return None;
            }
            let text = emi.get(i..i + len)?;
            if !text.iter().all(|&c| (0x20..0x7f).contains(&c)) || !text.starts_with(PREFIX) {
                return None;
            }
            let name = String::from_utf8_lossy(&text[PREFIX.len()..])
                .trim()
                .to_string();
            let display = name.contains("Display") || name.contains("Marker");
            (!name.is_empty() && !display).then_some((i, name))
        })
        .collect()
}

/// Every `<ObjectInfo>…</ObjectInfo>` block, with its position.
fn object_infos(emi: &[u8]) -> Vec<(usize, String)> {
    const OPEN: &[u8] = b"<ObjectInfo>";
    const CLOSE: &[u8] = b"</ObjectInfo>";
    let closes = find_all(emi, CLOSE);
    find_all(emi, OPEN)
        .into_iter()
        .filter_map(|i| {
            let end = closes.iter().find(|&&c| c > i)? + CLOSE.len();
            Some((i, String::from_utf8_lossy(&emi[i..end]).into_owned()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// The `<ObjectInfo>` XML.

/// The text of the first `<tag>…</tag>` element.
fn tag_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].trim())
}

/// The number a text starts with ("13500000 X" → 13500000).
fn leading_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(s.len());
    s[..end].parse::<f64>().ok().filter(|v| v.is_finite())
}

fn tag_number(xml: &str, tags: &[&str]) -> Option<f64> {
    tags.iter()
        .find_map(|t| tag_text(xml, t).and_then(leading_number))
}

/// The (value, unit) of an `<ExperimentalDescription>` entry, by its label.
fn described<'a>(xml: &'a str, label: &str) -> Option<(&'a str, &'a str)> {
    let section = tag_text(xml, "ExperimentalDescription")?;
    section.split("<Data>").skip(1).find_map(|entry| {
        let found = tag_text(entry, "Label")?.eq_ignore_ascii_case(label);
        found.then(|| {
            let value = tag_text(entry, "Value").unwrap_or("");
            (value, tag_text(entry, "Unit").unwrap_or(""))
        })
    })
}

/// The acquisition as one signal's `<ObjectInfo>` records it (SI units in the file).
fn acquisition_from(xml: &str) -> Acquisition {
    let positive = |v: f64| v > 0.0;
    let high_tension = described(xml, "High tension").and_then(|(v, unit)| {
        let kv = leading_number(v)?;
        Some(if unit.eq_ignore_ascii_case("V") {
            kv / 1e3
        } else {
            kv
        })
    });
    let voltage_kv = tag_number(xml, &["AcceleratingVoltage", "AccelerationVoltage"])
        .map(|v| v / 1e3)
        .filter(|&v| positive(v))
        .or(high_tension.filter(|&v| positive(v)));
    let dwell_time_us = tag_number(xml, &["DwellTimePath", "DwellTime"])
        .map(|s| s * 1e6)
        .filter(|&v| positive(v));
    let magnification = tag_number(xml, &["Magnification"])
        .or_else(|| described(xml, "Magnification").and_then(|(v, _)| leading_number(v)))
        .filter(|&v| positive(v));
    let microscope = described(xml, "Microscope")
        .map(|(v, _)| v)
        .or_else(|| tag_text(xml, "Microscope"))
        .or_else(|| tag_text(xml, "Instrument"))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Acquisition {
        voltage_kv,
        dwell_time_us,
        magnification,
        microscope,
        ..Acquisition::default()
    }
}

/// Whether the signal is a diffraction pattern (calibrated in 1/m, not m): a camera
/// image in STEM, or a TEM diffraction mode.
fn is_reciprocal(xml: &str) -> bool {
    let mode = described(xml, "Mode")
        .map(|(v, _)| v.to_ascii_uppercase())
        .unwrap_or_default();
    if mode.contains("STEM") {
        xml.contains("<CameraNamePath>")
    } else {
        mode.contains("DIFFRACTION")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formats(name: &str) -> PathBuf {
        crate::io::shared_data_path(&format!("formats/{name}"))
    }

    /// One 2D element: calibration deltas (m), DataType, size, pixel bytes.
    struct El {
        dx: f64,
        dy: f64,
        dtype: u16,
        w: i32,
        h: i32,
        pixels: Vec<u8>,
    }

    /// A SER file with the given version and DataTypeID holding `els`.
    fn ser_bytes(version: u16, data_type_id: u32, els: &[El]) -> Vec<u8> {
        let wide = version >= 0x0220;
        let mut b = Vec::new();
        b.extend(0x4949u16.to_le_bytes());
        b.extend(0x0197u16.to_le_bytes());
        b.extend(version.to_le_bytes());
        b.extend(data_type_id.to_le_bytes());
        b.extend(0x4152u32.to_le_bytes());
        b.extend((els.len() as u32).to_le_bytes()); // total
        b.extend((els.len() as u32).to_le_bytes()); // valid
        let offset_array_at = b.len();
        b.extend(if wide { vec![0u8; 8] } else { vec![0u8; 4] });
        b.extend(1u32.to_le_bytes()); // one dimension
        b.extend((els.len() as u32).to_le_bytes());
        b.extend(0f64.to_le_bytes());
        b.extend(1f64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(6u32.to_le_bytes());
        b.extend(b"Number");
        b.extend(0u32.to_le_bytes());
        let offsets_at = b.len() as u64;
        let width = if wide { 8 } else { 4 };
        b.resize(b.len() + 2 * width * els.len(), 0);
        let mut offsets = Vec::new();
        for e in els {
            offsets.push(b.len() as u64);
            for d in [e.dx, e.dy] {
                b.extend(0f64.to_le_bytes());
                b.extend(d.to_le_bytes());
                b.extend(0i32.to_le_bytes());
            }
            b.extend(e.dtype.to_le_bytes());
            b.extend(e.w.to_le_bytes());
            b.extend(e.h.to_le_bytes());
            b.extend(&e.pixels);
        }
        let put = |b: &mut Vec<u8>, at: usize, v: u64| {
            let bytes = v.to_le_bytes();
            b[at..at + width].copy_from_slice(&bytes[..width]);
        };
        put(&mut b, offset_array_at, offsets_at);
        for (i, &o) in offsets.iter().enumerate() {
            put(&mut b, offsets_at as usize + i * width, o);
        }
        b
    }

    /// 20 × 12 f32 pixels, value = 1000·frame + 20·stored_row + column.
    fn f32_element(frame: usize, dx: f64, dy: f64) -> El {
        let pixels = (0..12 * 20)
            .flat_map(|i| ((1000 * frame + i) as f32).to_le_bytes())
            .collect();
        El {
            dx,
            dy,
            dtype: 7,
            w: 20,
            h: 12,
            pixels,
        }
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_a_generated_two_frame_f32_series() {
        let dir = tempfile::tempdir().unwrap();
        for version in [0x0210, 0x0220] {
            let els = [
                f32_element(0, 0.25e-10, 0.25e-10),
                f32_element(1, 0.25e-10, 0.25e-10),
            ];
            let p = write(dir.path(), "gen_1.ser", &ser_bytes(version, 0x4122, &els));
            let loaded = read_ser(&p, &ReadOptions::default()).unwrap();
            assert_eq!(loaded.frames.len(), 2);
            for (k, f) in loaded.frames.iter().enumerate() {
                assert_eq!((f.width, f.height), (20, 12));
                assert!((f.pixel_size_angstrom.unwrap() - 0.25).abs() < 1e-12);
                // TIA stores the bottom row first: row 0 here is the last stored row.
                for r in 0..12 {
                    for c in 0..20 {
                        let stored_row = 11 - r;
                        let want = (1000 * k + 20 * stored_row + c) as f32;
                        assert_eq!(
                            f.get(c, r),
                            want,
                            "version {version:#x} frame {k} ({c}, {r})"
                        );
                    }
                }
            }
            assert_eq!(loaded.acquisition, Acquisition::default());
        }
    }

    #[test]
    fn integer_pixel_types_are_converted() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(u16, Vec<u8>, [f32; 2]); 4] = [
            (1, vec![7, 250], [7.0, 250.0]),
            (4, vec![0xFF, 5], [-1.0, 5.0]),
            (
                5,
                [(-300i16).to_le_bytes(), 12i16.to_le_bytes()].concat(),
                [-300.0, 12.0],
            ),
            (
                8,
                [2.5f64.to_le_bytes(), (-1f64).to_le_bytes()].concat(),
                [2.5, -1.0],
            ),
        ];
        for (dtype, pixels, want) in cases {
            let el = El {
                dx: 1e-10,
                dy: 1e-10,
                dtype,
                w: 2,
                h: 1,
                pixels,
            };
            let p = write(dir.path(), "t_1.ser", &ser_bytes(0x0210, 0x4122, &[el]));
            let loaded = read_ser(&p, &ReadOptions::default()).unwrap();
            assert_eq!(loaded.frames[0].data, want, "type {dtype}");
        }
    }

    #[test]
    fn spectra_complex_and_non_square_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let el = f32_element(0, 1e-10, 1e-10);
        let p = write(dir.path(), "s_1.ser", &ser_bytes(0x0210, 0x4120, &[el]));
        let e = read_ser(&p, &ReadOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("1D spectrum"), "{e}");
        assert_eq!(e.path.as_deref(), Some(p.as_path()));

        let el = El {
            dx: 1e-10,
            dy: 1e-10,
            dtype: 9,
            w: 1,
            h: 1,
            pixels: vec![0; 8],
        };
        let p = write(dir.path(), "c_1.ser", &ser_bytes(0x0210, 0x4122, &[el]));
        assert_eq!(
            read_ser(&p, &ReadOptions::default()).unwrap_err().kind,
            ErrorKind::Unsupported
        );

        let el = f32_element(0, 1e-10, 2e-10);
        let p = write(dir.path(), "n_1.ser", &ser_bytes(0x0210, 0x4122, &[el]));
        let e = read_ser(&p, &ReadOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("1.000000 Å × 2.000000 Å"), "{e}");
        assert!(e.to_string().contains("n_1.ser"), "{e}");
    }

    #[test]
    fn declared_sizes_are_checked_before_allocation() {
        let dir = tempfile::tempdir().unwrap();
        let el = El {
            dx: 1e-10,
            dy: 1e-10,
            dtype: 7,
            w: 65536,
            h: 65536,
            pixels: vec![0; 16],
        };
        let p = write(dir.path(), "big_1.ser", &ser_bytes(0x0210, 0x4122, &[el]));
        assert_eq!(
            read_ser(&p, &ReadOptions::default()).unwrap_err().kind,
            ErrorKind::Unsupported
        );
        // A small frame whose pixels are missing is a decode error, not an allocation.
        let el = El {
            dx: 1e-10,
            dy: 1e-10,
            dtype: 7,
            w: 4000,
            h: 4000,
            pixels: vec![0; 16],
        };
        let p = write(dir.path(), "short_1.ser", &ser_bytes(0x0210, 0x4122, &[el]));
        assert_eq!(
            read_ser(&p, &ReadOptions::default()).unwrap_err().kind,
            ErrorKind::Decode
        );
        // A huge element count in a small file.
        let mut b = ser_bytes(0x0210, 0x4122, &[f32_element(0, 1e-10, 1e-10)]);
        b[14..22].copy_from_slice(&[0xFF; 8]);
        let p = write(dir.path(), "count_1.ser", &b);
        assert_eq!(
            read_ser(&p, &ReadOptions::default()).unwrap_err().kind,
            ErrorKind::Decode
        );
    }

    /// A length-prefixed EMI string.
    fn emi_text(s: &str) -> Vec<u8> {
        [
            (s.len() as u32).to_le_bytes().to_vec(),
            s.as_bytes().to_vec(),
        ]
        .concat()
    }

    fn object_info(kv: f64, dwell_s: f64) -> String {
        format!(
            "<ObjectInfo><ExperimentalConditions><MicroscopeConditions><AcceleratingVoltage>{}</AcceleratingVoltage></MicroscopeConditions></ExperimentalConditions><ExperimentalDescription><Root><Data><Label>Microscope</Label><Value>Titan 60-300</Value><Unit></Unit></Data><Data><Label>Mode</Label><Value>STEM nP SA Zoom Image</Value><Unit></Unit></Data></Root></ExperimentalDescription><AcquireInfo><Magnification>5000000 X</Magnification><DwellTimePath>{dwell_s}</DwellTimePath></AcquireInfo></ObjectInfo>",
            kv * 1e3
        )
    }

    #[test]
    fn an_emi_with_two_detectors_reads_the_haadf_or_the_one_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        // Laid out like TIA's: title, data copy, SER path, ObjectInfo, for each signal.
        let mut emi = b"JK\x00\x02junk".to_vec();
        for (title, n, kv) in [("Acquire BF", 1, 200.0), ("Acquire HAADF", 2, 300.0)] {
            emi.extend([0x60, 0, 0, 1]);
            emi.extend(emi_text(title));
            emi.extend([0x11; 64]);
            emi.extend(emi_text(&format!("D:\\data\\renamed_{n}.ser")));
            emi.extend(object_info(kv, 4e-6).as_bytes());
        }
        emi.extend(emi_text("Acquire HAADF Scanning Display1"));
        let p = write(dir.path(), "pair.emi", &emi);
        let bf = [f32_element(0, 1e-10, 1e-10)];
        let haadf = [f32_element(5, 1e-10, 1e-10)];
        write(dir.path(), "pair_1.ser", &ser_bytes(0x0210, 0x4122, &bf));
        let ser2 = write(dir.path(), "pair_2.ser", &ser_bytes(0x0220, 0x4122, &haadf));

        let loaded = read_ser(&p, &ReadOptions::default()).unwrap();
        let a = &loaded.acquisition;
        assert_eq!(a.detectors_in_file, ["BF", "HAADF"]);
        assert_eq!(a.detector.as_deref(), Some("HAADF"));
        assert_eq!(a.voltage_kv, Some(300.0));
        assert!((a.dwell_time_us.unwrap() - 4.0).abs() < 1e-9);
        assert_eq!(a.magnification, Some(5e6));
        assert_eq!(a.microscope.as_deref(), Some("Titan 60-300"));
        assert_eq!(loaded.frames[0].get(0, 11), 5000.0);

        let options = ReadOptions {
            detector: Some("bf".into()),
            ..ReadOptions::default()
        };
        let bf = read_ser(&p, &options).unwrap();
        assert_eq!(bf.acquisition.detector.as_deref(), Some("BF"));
        assert_eq!(bf.acquisition.voltage_kv, Some(200.0));
        assert_eq!(bf.frames[0].get(0, 11), 0.0);

        let options = ReadOptions {
            detector: Some("DF4".into()),
            ..ReadOptions::default()
        };
        let e = read_ser(&p, &options).unwrap_err();
        assert!(e.message.contains("BF, HAADF"), "{e}");

        // Named directly, the SER gets its own metadata from the EMI.
        let direct = read_ser(&ser2, &ReadOptions::default()).unwrap();
        assert_eq!(direct.acquisition.detector.as_deref(), Some("HAADF"));
        assert_eq!(direct.acquisition.voltage_kv, Some(300.0));
        assert!(direct.acquisition.detectors_in_file.is_empty());
        assert_eq!(direct.frames, loaded.frames);
    }

    #[test]
    fn an_emi_without_its_ser_files_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "alone.emi", b"JK\x00\x02");
        let e = read_ser(&p, &ReadOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Decode);
        assert!(e.message.contains("alone_1.ser"), "{e}");
    }

    #[test]
    fn reads_the_sto_haadf_image_via_the_emi_and_the_ser() {
        let (emi, ser) = (formats("16_STOimage.emi"), formats("16_STOimage_1.ser"));
        if !emi.is_file() || !ser.is_file() {
            eprintln!("skipping: {} or {} is absent", emi.display(), ser.display());
            return;
        }
        let via_emi = read_ser(&emi, &ReadOptions::default()).unwrap();
        let via_ser = read_ser(&ser, &ReadOptions::default()).unwrap();
        assert_eq!(via_emi.frames.len(), 1);
        let f = &via_emi.frames[0];
        assert_eq!((f.width, f.height), (1024, 1024));
        let px = f.pixel_size_angstrom.unwrap();
        assert!((px / 0.10013 - 1.0).abs() < 1e-4, "{px}");
        assert!(f
            .data
            .iter()
            .all(|&v| (0.0..=65535.0).contains(&v) && v.fract() == 0.0));
        // The first stored row (19351 at its start) is the bottom row.
        assert_eq!((f.get(0, 0), f.get(0, 1023)), (18024.0, 19351.0));
        assert_eq!(via_emi.frames, via_ser.frames);
        let a = &via_emi.acquisition;
        assert_eq!(a.detector.as_deref(), Some("HAADF"));
        assert!(a.detectors_in_file.is_empty());
        assert_eq!(a.voltage_kv, Some(80.0));
        assert!((a.dwell_time_us.unwrap() - 29.0).abs() < 1e-9, "{a:?}");
        assert_eq!(a.magnification, Some(13.5e6));
        assert_eq!(a.microscope.as_deref(), Some("TitanCubed D3147 S-Twin"));
        assert_eq!(&via_ser.acquisition, a);
        assert!(via_emi.warnings.is_empty(), "{:?}", via_emi.warnings);
        let options = ReadOptions {
            detector: Some("BF".into()),
            ..ReadOptions::default()
        };
        assert!(read_ser(&emi, &options).is_err());
    }

    /// Deterministic bytes for scrambling (xorshift).
    fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    #[test]
    fn truncated_or_scrambled_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let els = [f32_element(0, 1e-10, 1e-10), f32_element(1, 1e-10, 1e-10)];
        let small = ser_bytes(0x0220, 0x4122, &els);
        let p = dir.path().join("f_1.ser");
        let options = ReadOptions::default();
        for cut in 0..small.len() {
            std::fs::write(&p, &small[..cut]).unwrap();
            assert!(read_ser(&p, &options).is_err(), "cut at {cut}");
        }
        for at in 0..200 {
            for x in [0x01u8, 0x80, 0xFF] {
                let mut b = small.clone();
                b[at] ^= x;
                std::fs::write(&p, &b).unwrap();
                let _ = read_ser(&p, &options);
            }
        }
        let (emi, ser) = (formats("16_STOimage.emi"), formats("16_STOimage_1.ser"));
        if !emi.is_file() || !ser.is_file() {
            eprintln!("skipping the real-file part: {} is absent", ser.display());
            return;
        }
        let real = std::fs::read(&ser).unwrap();
        let real_emi = std::fs::read(&emi).unwrap();
        let (p, q) = (dir.path().join("r_1.ser"), dir.path().join("r.emi"));
        for cut in [0, 5, 30, 60, 100, 2_000, real.len() / 2, 2_097_000] {
            std::fs::write(&p, &real[..cut]).unwrap();
            assert!(read_ser(&p, &options).is_err(), "cut at {cut}");
        }
        std::fs::write(&p, &real).unwrap();
        for seed in 1..12u64 {
            let mut b = real.clone();
            let mut e = real_emi.clone();
            for (i, x) in noise(seed, 160).into_iter().enumerate() {
                b[i] ^= x;
            }
            let span = e.len() - 2_098_000;
            for (i, x) in noise(seed + 100, span).into_iter().enumerate() {
                e[2_098_000 + i] ^= x & (seed as u8);
            }
            std::fs::write(&q, &e).unwrap();
            let _ = read_ser(&q, &options);
            std::fs::write(&p, &b).unwrap();
            let _ = read_ser(&p, &options);
            let _ = read_ser(&q, &options);
        }
    }
}

//! Gatan DigitalMicrograph DM3/DM4 files, parsed here (no DM library).
//!
//! # The format
//! A DM file is one tree of tags. The header is big-endian: the version (3 or 4), the
//! file length (u32 in DM3, u64 in DM4) and the byte order of the tag *values* (1 =
//! little-endian, what every file we have seen uses). Then comes the root group. A
//! group holds two flag bytes and a count of entries (u32 / u64); an entry is a kind
//! byte (20 = group, 21 = data), a big-endian u16 name length and the name (Latin-1,
//! empty for list items), in DM4 a u64 byte size, then the group or the data. Data is
//! `%%%%`, a count of type-info words (u32 / u64, big-endian) and the info: one scalar
//! type (2 i16, 3 i32, 4 u16, 5 u32, 6 f32, 7 f64, 8 bool, 9 i8, 10 u8, 11 i64, 12 u64),
//! 18 string, 15 struct (field types follow) or 20 array (element type and count; text
//! is an array of UTF-16 code units), followed by the value in the file's byte order.
//!
//! # What is read
//! Images live in `ImageList`; entry 0 is usually the thumbnail DM draws (RGB), and
//! `Thumbnails.[i].ImageIndex` names it. The reader skips the entries that tag names,
//! then RGB entries when another remains, and if several images remain picks one by
//! detector name with [`pick_detector`] and `ReadOptions::detector`. Of the picked
//! entry it reads `ImageData.Dimensions` (x = width first, then height, then frames),
//! `ImageData.DataType` and `ImageData.Calibrations.Dimension.[i]` `Scale`/`Units`
//! (pixel size in Å from the x axis; the z axis of a stack does not matter), and from
//! `ImageTags`: `Microscope Info.Voltage` (V), `Indicated Magnification`,
//! `Microscope`/`Name`, `DigiScan.Sample Time` (µs dwell), `DataBar.Signal Name` (or
//! `Microscope Info.Signal Name`, `DigiScan.Signal Name`) as the detector name, and
//! `EELS.Experimental Conditions.Convergence semi-angle (mrad)`. `STEM Camera Length`
//! is present in DigiScan files but is not a collection angle, so it is not reported.
//! Pixel values are the raw stored numbers (the `Brightness` calibration is ignored:
//! the analysis normalizes intensities itself). Data types: int8/16/32/64,
//! uint8/16/32/64, float32/64, binary.
//!
//! The pixel array is never loaded into the tag tree: the parser records its offset,
//! element type and count, and only after the declared size has passed
//! [`ReadOptions::check_size`] and offset + bytes has been checked against the file
//! length are the bytes read, 1 MiB at a time, and converted with `chunks_exact`.
//! Measured in release on the 2-core build machine (file in the page cache): a 4096²
//! float32 DM4 (64 MiB) reads in 31–43 ms alone, 68–86 ms while other tests run; the
//! 512² uint32 DigiScan DM4 files (1.2 MB) in 0.2 ms.
//!
//! [`read_dm_per_axis`] reads the same image without the square-pixel check and
//! returns the calibration of every axis ([`DmImage::axes`]).
//!
//! # What is refused, and why
//! - 1D data (a spectrum, e.g. an EELS spectrum of 2048 channels) and data with an
//!   energy axis: not an image (Unsupported, one line).
//! - Complex (FFTs, exit waves) and RGB data: not a HAADF intensity.
//! - 4D data (4D-STEM): not an image or an image stack.
//! - Non-square pixels (x and y pixel sizes differing by more than 1e-3 relative):
//!   every distance the engine measures assumes one pixel size, so the message gives
//!   both sizes and asks for a resampled image.
//! - Corrupt files: every count and size is checked against the file length, groups
//!   nest at most 64 deep and a file holds at most a million tags, so truncated or
//!   scrambled files give an error (Decode) and never a panic or a huge allocation.

use super::frames::Loaded;
use super::frames::{pick_detector, Acquisition, ReadOptions};
use super::units::unit_to_angstrom;
use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Deepest nesting of tag groups accepted (real files nest about 10 deep).
const MAX_DEPTH: usize = 64;
/// Most tags one file may hold (real files hold a few thousand).
const MAX_TAGS: usize = 1_000_000;
/// Most type-info words one data tag may declare.
const MAX_INFO: u64 = 4096;
/// UTF-16 arrays up to this many code units are decoded as text while parsing.
const MAX_TEXT: u64 = 4096;
/// Relative difference of the x and y pixel sizes beyond which pixels are non-square.
const SQUARE_TOLERANCE: f64 = 1e-3;
/// Bytes of pixel data read and converted at a time (a multiple of every sample size).
const CHUNK: usize = 1 << 20;

/// Errors while walking the tag tree; the caller turns them into `Decode` errors.
type Parse<T> = std::result::Result<T, String>;

/// Reads the image (not the thumbnail) of a DM3/DM4 file: every frame, calibration and
/// acquisition tags. Non-square pixels are refused.
pub fn read_dm(path: &Path, options: &ReadOptions) -> Result<Loaded> {
    let (mut src, len) = open(path)?;
    let (image, frames) = load(&mut src, len, options, true).map_err(|e| e.with_path(path))?;
    Ok(Loaded {
        frames,
        warnings: image.warnings,
        acquisition: image.acquisition,
    })
}

/// Like [`read_dm`] without the square-pixel check: the picked image's tags (with the
/// per-axis calibration) and its frames, whose pixel size is the x axis's.
pub fn read_dm_per_axis(path: &Path, options: &ReadOptions) -> Result<(DmImage, Vec<Image>)> {
    let (mut src, len) = open(path)?;
    load(&mut src, len, options, false).map_err(|e| e.with_path(path))
}

fn open(path: &Path) -> Result<(BufReader<File>, u64)> {
    let file = File::open(path).map_err(|e| Error::decode(path, format!("cannot open ({e})")))?;
    let len = file
        .metadata()
        .map_err(|e| Error::decode(path, format!("cannot read the file size ({e})")))?
        .len();
    Ok((BufReader::with_capacity(64 * 1024, file), len))
}

/// Parses the tag tree, picks the image and reads its frames.
fn load<R: Read + Seek>(
    src: &mut BufReader<R>,
    len: u64,
    options: &ReadOptions,
    square: bool,
) -> Result<(DmImage, Vec<Image>)> {
    let tags = parse_tags(src, len).map_err(decode)?;
    let mut image = choose_image(&tags, options)?;
    let shape = image_shape(&image)?;
    let sample = sample_type(&image)?;
    let pixel = if square {
        square_pixel_size(&mut image)?
    } else {
        image.axes.first().and_then(Axis::angstrom)
    };
    options.check_size(shape.0, shape.1, shape.2)?;
    let frames = read_frames(src, len, &image, sample, shape, pixel)?;
    Ok((image, frames))
}

fn decode(message: String) -> Error {
    Error::new(ErrorKind::Decode, message)
}

fn unsupported(message: String) -> Error {
    Error::new(ErrorKind::Unsupported, message)
}

// ---------------------------------------------------------------------------------
// The tag tree

/// One tag: a group of named (or, in lists, unnamed) tags, or a value.
#[derive(Debug)]
enum Node {
    Group(Vec<(String, Node)>),
    Num(f64),
    Text(String),
    Array(ArrayRef),
    /// A struct: skipped, nothing the reader needs is one.
    Other,
}

/// Where an array's values lie in the file; short UTF-16 arrays are also decoded.
#[derive(Debug, Clone)]
struct ArrayRef {
    /// Tag type of one element (15 for structs).
    elem: u64,
    elem_size: u64,
    offset: u64,
    count: u64,
    text: Option<String>,
}

impl Node {
    fn children(&self) -> &[(String, Node)] {
        match self {
            Node::Group(g) => g,
            _ => &[],
        }
    }

    fn get(&self, name: &str) -> Option<&Node> {
        self.children()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, name| node.get(name))
    }

    fn items(&self) -> impl Iterator<Item = &Node> {
        self.children().iter().map(|(_, n)| n)
    }

    fn num(&self) -> Option<f64> {
        match self {
            Node::Num(v) => Some(*v),
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Node::Text(s) => Some(s),
            Node::Array(a) => a.text.as_deref(),
            _ => None,
        }
    }

    fn array(&self) -> Option<&ArrayRef> {
        match self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// The parsed tree and the byte order of its values.
struct Tags {
    root: Node,
    little: bool,
}

fn parse_tags<R: Read + Seek>(src: &mut BufReader<R>, len: u64) -> Parse<Tags> {
    if len < 16 {
        return Err(format!(
            "the file is {len} bytes long, too short for a DM3/DM4 file"
        ));
    }
    let mut r = TagReader {
        src,
        pos: 0,
        len,
        v4: false,
        little: true,
        tags: 0,
    };
    r.v4 = match r.be_u32()? {
        3 => false,
        4 => true,
        v => {
            return Err(format!(
                "not a DigitalMicrograph DM3/DM4 file (its version field reads {v})"
            ))
        }
    };
    let _declared_length = r.count()?;
    r.little = match r.be_u32()? {
        0 => false,
        1 => true,
        o => return Err(format!("unknown byte order {o} in the DM header")),
    };
    let root = Node::Group(r.group(0)?);
    Ok(Tags {
        root,
        little: r.little,
    })
}

/// Walks the tag tree from a buffered source, never past `len`.
struct TagReader<'a, R> {
    src: &'a mut BufReader<R>,
    pos: u64,
    len: u64,
    v4: bool,
    little: bool,
    tags: usize,
}

/// Reads one scalar of type `$ty` in the file's byte order.
macro_rules! scalar {
    ($r:expr, $ty:ty, $n:expr) => {{
        let b = $r.take::<$n>()?;
        (if $r.little {
            <$ty>::from_le_bytes(b)
        } else {
            <$ty>::from_be_bytes(b)
        }) as f64
    }};
}

impl<R: Read + Seek> TagReader<'_, R> {
    fn take<const N: usize>(&mut self) -> Parse<[u8; N]> {
        let mut b = [0u8; N];
        self.src
            .read_exact(&mut b)
            .map_err(|_| format!("the file ends inside its tag tree (byte {})", self.pos))?;
        self.pos += N as u64;
        Ok(b)
    }

    fn bytes(&mut self, n: u64) -> Parse<Vec<u8>> {
        self.check_fits(n)?;
        let mut b = vec![0u8; n as usize];
        self.src
            .read_exact(&mut b)
            .map_err(|_| format!("the file ends inside its tag tree (byte {})", self.pos))?;
        self.pos += n;
        Ok(b)
    }

    fn check_fits(&self, n: u64) -> Parse<u64> {
        self.pos
            .checked_add(n)
            .filter(|&end| end <= self.len)
            .ok_or_else(|| {
                format!(
                    "a tag at byte {} declares {n} bytes, past the end of the file ({} bytes)",
                    self.pos, self.len
                )
            })
    }

    fn skip(&mut self, n: u64) -> Parse<()> {
        let end = self.check_fits(n)?;
        let step = i64::try_from(n).map_err(|_| format!("a tag declares {n} bytes"))?;
        self.src
            .seek_relative(step)
            .map_err(|e| format!("cannot seek in the file ({e})"))?;
        self.pos = end;
        Ok(())
    }

    fn be_u16(&mut self) -> Parse<u16> {
        Ok(u16::from_be_bytes(self.take()?))
    }

    fn be_u32(&mut self) -> Parse<u32> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    /// A count or size: u32 in DM3, u64 in DM4, big-endian in both.
    fn count(&mut self) -> Parse<u64> {
        if self.v4 {
            Ok(u64::from_be_bytes(self.take()?))
        } else {
            Ok(self.be_u32()? as u64)
        }
    }

    fn group(&mut self, depth: usize) -> Parse<Vec<(String, Node)>> {
        if depth > MAX_DEPTH {
            return Err(format!("tag groups nest deeper than {MAX_DEPTH} levels"));
        }
        let _sorted_and_open = self.take::<2>()?;
        let n = self.count()?;
        let mut entries = Vec::new();
        for _ in 0..n {
            entries.push(self.entry(depth)?);
        }
        Ok(entries)
    }

    fn entry(&mut self, depth: usize) -> Parse<(String, Node)> {
        self.tags += 1;
        if self.tags > MAX_TAGS {
            return Err(format!("the file declares more than {MAX_TAGS} tags"));
        }
        let at = self.pos;
        let kind = self.take::<1>()?[0];
        let name_len = self.be_u16()?;
        let name: String = self
            .bytes(name_len as u64)?
            .iter()
            .map(|&b| b as char)
            .collect();
        if self.v4 {
            let _entry_size = self.count()?;
        }
        let node = match kind {
            20 => Node::Group(self.group(depth + 1)?),
            21 => self.data()?,
            k => return Err(format!("unknown tag kind {k} at byte {at}")),
        };
        Ok((name, node))
    }

    fn data(&mut self) -> Parse<Node> {
        if &self.take::<4>()? != b"%%%%" {
            return Err(format!(
                "a data tag at byte {} lacks its %%%% mark",
                self.pos - 4
            ));
        }
        let n = self.count()?;
        if n == 0 || n > MAX_INFO {
            return Err(format!(
                "a data tag at byte {} declares {n} type words",
                self.pos
            ));
        }
        let mut info = Vec::with_capacity(n as usize);
        for _ in 0..n {
            info.push(self.count()?);
        }
        match info[0] {
            15 => {
                let size = struct_size(&info[1..])?;
                self.skip(size)?;
                Ok(Node::Other)
            }
            18 => self.string(&info),
            20 => self.array(&info),
            t => self.scalar(t).map(Node::Num),
        }
    }

    fn scalar(&mut self, t: u64) -> Parse<f64> {
        Ok(match t {
            2 => scalar!(self, i16, 2),
            3 => scalar!(self, i32, 4),
            4 => scalar!(self, u16, 2),
            5 => scalar!(self, u32, 4),
            6 => scalar!(self, f32, 4),
            7 => scalar!(self, f64, 8),
            8 | 10 => self.take::<1>()?[0] as f64,
            9 => self.take::<1>()?[0] as i8 as f64,
            11 => scalar!(self, i64, 8),
            12 => scalar!(self, u64, 8),
            t => return Err(format!("unknown tag data type {t} at byte {}", self.pos)),
        })
    }

    fn string(&mut self, info: &[u64]) -> Parse<Node> {
        let n = *info.get(1).ok_or("a string tag without a length")?;
        if n > MAX_TEXT {
            self.skip(n)?;
            return Ok(Node::Other);
        }
        Ok(Node::Text(
            self.bytes(n)?.iter().map(|&b| b as char).collect(),
        ))
    }

    fn array(&mut self, info: &[u64]) -> Parse<Node> {
        let elem = *info.get(1).ok_or("an array tag without an element type")?;
        let (elem_size, count) = if elem == 15 {
            let last = *info.last().unwrap_or(&0);
            (struct_size(info.get(2..).unwrap_or(&[]))?, last)
        } else {
            let size = scalar_size(elem)
                .ok_or_else(|| format!("unknown array element type {elem} at byte {}", self.pos))?;
            (size, *info.get(2).ok_or("an array tag without a length")?)
        };
        let bytes = count
            .checked_mul(elem_size)
            .ok_or_else(|| format!("an array of {count} elements at byte {}", self.pos))?;
        let offset = self.pos;
        let text = if elem == 4 && count <= MAX_TEXT {
            Some(utf16(&self.bytes(bytes)?, self.little))
        } else {
            self.skip(bytes)?;
            None
        };
        Ok(Node::Array(ArrayRef {
            elem,
            elem_size,
            offset,
            count,
            text,
        }))
    }
}

/// Bytes of one scalar tag type.
fn scalar_size(t: u64) -> Option<u64> {
    match t {
        8..=10 => Some(1),
        2 | 4 => Some(2),
        3 | 5 | 6 => Some(4),
        7 | 11 | 12 => Some(8),
        _ => None,
    }
}

/// Bytes of one struct from its type info: name length, field count, then a (name
/// length, type) pair per field.
fn struct_size(info: &[u64]) -> Parse<u64> {
    let fields = *info.get(1).ok_or("a struct tag without a field count")?;
    let pairs = info.get(2..).unwrap_or(&[]);
    if fields > pairs.len() as u64 / 2 {
        return Err(format!(
            "a struct declares {fields} fields but describes fewer"
        ));
    }
    pairs
        .chunks_exact(2)
        .take(fields as usize)
        .try_fold(0u64, |sum, pair| {
            scalar_size(pair[1])
                .map(|s| sum + s)
                .ok_or_else(|| format!("unknown struct field type {}", pair[1]))
        })
}

/// UTF-16 text in the file's byte order, trailing NULs dropped.
fn utf16(bytes: &[u8], little: bool) -> String {
    let units = bytes.chunks_exact(2).map(|c| {
        let pair = [c[0], c[1]];
        if little {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect::<String>()
        .trim_end_matches('\0')
        .to_string()
}

// ---------------------------------------------------------------------------------
// The image

/// One `ImageList` entry as its tags describe it.
#[derive(Debug, Clone)]
pub struct DmImage {
    /// Position in `ImageList`.
    pub index: usize,
    /// `ImageData.Dimensions`: width, height, then frames.
    pub dims: Vec<usize>,
    /// `ImageData.Calibrations.Dimension`, one per dimension.
    pub axes: Vec<Axis>,
    /// `ImageData.DataType` (1 int16, 2 float32, 11 uint32, ...).
    pub data_type: Option<u64>,
    data: ArrayRef,
    little: bool,
    pub acquisition: Acquisition,
    pub warnings: Vec<String>,
}

/// The calibration of one dimension: physical value = (index - origin) × scale.
#[derive(Debug, Clone, Default)]
pub struct Axis {
    pub scale: f64,
    pub origin: f64,
    pub units: String,
}

impl Axis {
    /// Å per pixel, when the units are a length.
    pub fn angstrom(&self) -> Option<f64> {
        let size = self.scale.abs() * unit_to_angstrom(&self.units)?;
        (size.is_finite() && size > 0.0).then_some(size)
    }
}

/// Picks the image: not a thumbnail, not RGB when another remains, then by detector.
fn choose_image(tags: &Tags, options: &ReadOptions) -> Result<DmImage> {
    let list = tags.root.get("ImageList");
    let with_data: Vec<(usize, &Node)> = list
        .into_iter()
        .flat_map(Node::items)
        .enumerate()
        .filter(|(_, n)| n.at(&["ImageData", "Data"]).and_then(Node::array).is_some())
        .collect();
    if with_data.is_empty() {
        return Err(decode(
            "the DM file holds no image (no ImageList entry with ImageData.Data)".into(),
        ));
    }
    let thumbnails = thumbnail_indices(&tags.root);
    let mut candidates: Vec<(usize, &Node)> = with_data
        .iter()
        .filter(|(i, _)| !thumbnails.contains(i))
        .copied()
        .collect();
    if candidates.is_empty() {
        candidates = with_data;
    }
    if candidates.iter().any(|(_, n)| !is_rgb(data_type(n))) {
        candidates.retain(|(_, n)| !is_rgb(data_type(n)));
    }
    let names: Vec<String> = candidates.iter().map(|(i, n)| image_name(n, *i)).collect();
    let pick = if candidates.len() > 1 {
        pick_detector(&names, options.detector.as_deref())?
    } else {
        0
    };
    let (index, node) = candidates[pick];
    let mut image = describe(node, index, tags.little)?;
    if candidates.len() > 1 {
        image.warnings.push(format!(
            "the DM file holds {} images ({}); read the {} one",
            names.len(),
            names.join(", "),
            names[pick]
        ));
        image.acquisition.detectors_in_file = names;
    } else if let Some(w) = unmatched_request(&names[0], options) {
        image.warnings.push(format!(
            "the DM file holds only the {} image; read it although '{w}' was asked for",
            names[0]
        ));
    }
    Ok(image)
}

/// The requested detector, when the file's only image is not it.
fn unmatched_request<'a>(name: &str, options: &'a ReadOptions) -> Option<&'a str> {
    let wanted = options.detector.as_deref()?;
    let matches = name
        .to_ascii_uppercase()
        .contains(&wanted.to_ascii_uppercase());
    (!matches).then_some(wanted)
}

fn thumbnail_indices(root: &Node) -> Vec<usize> {
    root.get("Thumbnails")
        .map(|t| {
            t.items()
                .filter_map(|th| th.get("ImageIndex").and_then(Node::num))
                .filter_map(to_dim)
                .collect()
        })
        .unwrap_or_default()
}

fn data_type(image: &Node) -> Option<u64> {
    image
        .at(&["ImageData", "DataType"])
        .and_then(Node::num)
        .and_then(to_dim)
        .map(|d| d as u64)
}

/// DM data types holding colour: RGB, and RGB(A) of 8/16-bit or float channels.
fn is_rgb(data_type: Option<u64>) -> bool {
    matches!(data_type, Some(8 | 15..=21 | 23))
}

fn is_complex(data_type: Option<u64>) -> bool {
    matches!(data_type, Some(3 | 5 | 13))
}

/// A non-negative integral tag value as a size or index.
fn to_dim(v: f64) -> Option<usize> {
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64).then_some(v as usize)
}

/// The detector (signal) name an image's tags give, if any.
fn signal_name(image: &Node) -> Option<String> {
    const PATHS: [[&str; 3]; 3] = [
        ["ImageTags", "DataBar", "Signal Name"],
        ["ImageTags", "Microscope Info", "Signal Name"],
        ["ImageTags", "DigiScan", "Signal Name"],
    ];
    PATHS.iter().find_map(|p| nonempty_text(image.at(p)))
}

fn nonempty_text(node: Option<&Node>) -> Option<String> {
    node.and_then(Node::text)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The name to pick an image by: its detector, else its own name, else its position.
fn image_name(image: &Node, index: usize) -> String {
    signal_name(image)
        .or_else(|| nonempty_text(image.get("Name")))
        .unwrap_or_else(|| format!("image {index}"))
}

/// Gathers what the reader needs from one `ImageList` entry.
fn describe(node: &Node, index: usize, little: bool) -> Result<DmImage> {
    let image_data = node.get("ImageData");
    let dims = image_data
        .and_then(|d| d.get("Dimensions"))
        .map(|d| {
            d.items()
                .map(|v| v.num().and_then(to_dim))
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or(Some(Vec::new()))
        .ok_or_else(|| {
            decode(format!(
                "ImageList entry {index} has an unreadable dimension"
            ))
        })?;
    let axes = image_data
        .and_then(|d| d.at(&["Calibrations", "Dimension"]))
        .map(|d| d.items().map(axis).collect())
        .unwrap_or_default();
    let data = node
        .at(&["ImageData", "Data"])
        .and_then(Node::array)
        .cloned()
        .ok_or_else(|| decode(format!("ImageList entry {index} has no data")))?;
    Ok(DmImage {
        index,
        dims,
        axes,
        data_type: data_type(node),
        data,
        little,
        acquisition: acquisition(node),
        warnings: Vec::new(),
    })
}

fn axis(node: &Node) -> Axis {
    Axis {
        scale: node.get("Scale").and_then(Node::num).unwrap_or(1.0),
        origin: node.get("Origin").and_then(Node::num).unwrap_or(0.0),
        units: node
            .get("Units")
            .and_then(Node::text)
            .unwrap_or("")
            .trim()
            .to_string(),
    }
}

/// The acquisition tags of one image; `None` where absent.
fn acquisition(image: &Node) -> Acquisition {
    let tags = image.get("ImageTags");
    let num = |p: &[&str]| tags.and_then(|t| t.at(p)).and_then(Node::num);
    let text = |p: &[&str]| nonempty_text(tags.and_then(|t| t.at(p)));
    // DM stores the voltage in volts; a value under 1000 can only be kV already.
    let voltage_kv = num(&["Microscope Info", "Voltage"])
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(|v| if v >= 1000.0 { v / 1000.0 } else { v });
    let positive = |v: Option<f64>| v.filter(|v| v.is_finite() && *v > 0.0);
    Acquisition {
        voltage_kv,
        detector: signal_name(image),
        detector_inner_mrad: None,
        detector_outer_mrad: None,
        convergence_mrad: positive(num(&[
            "EELS",
            "Experimental Conditions",
            "Convergence semi-angle (mrad)",
        ])),
        dwell_time_us: positive(num(&["DigiScan", "Sample Time"])),
        magnification: positive(num(&["Microscope Info", "Indicated Magnification"])),
        microscope: text(&["Microscope Info", "Microscope"])
            .or_else(|| text(&["Microscope Info", "Name"]))
            .or_else(|| text(&["Session Info", "Microscope"])),
        detectors_in_file: Vec::new(),
    }
}

fn is_energy(units: &str) -> bool {
    let u = units.trim();
    u.ends_with("eV") && u.len() <= 3
}

fn dims_text(dims: &[usize]) -> String {
    let text: Vec<String> = dims.iter().map(|v| v.to_string()).collect();
    text.join("×")
}

/// (width, height, frames), refusing what is not an image or a stack of images.
fn image_shape(image: &DmImage) -> Result<(usize, usize, usize)> {
    let d = &image.dims;
    let one_d = |n: usize| {
        let what = match image.axes.first() {
            Some(a) if is_energy(&a.units) => "spectrum",
            _ => "profile",
        };
        Err(unsupported(format!(
            "not an image: a 1D {what} of {n} channels"
        )))
    };
    let shape = match d[..] {
        [] => return Err(decode("the image declares no dimensions".into())),
        [n] | [n, 1] | [1, n] => return one_d(n),
        [w, h] => (w, h, 1),
        [w, h, n] => (w, h, n),
        _ => {
            return Err(unsupported(format!(
                "not an image: {}-dimensional data ({}), e.g. 4D-STEM",
                d.len(),
                dims_text(d)
            )))
        }
    };
    if let Some(k) = image
        .axes
        .iter()
        .take(d.len())
        .position(|a| is_energy(&a.units))
    {
        return Err(unsupported(format!(
            "not an image: a spectrum image ({} with axis {k} in {})",
            dims_text(d),
            image.axes[k].units
        )));
    }
    Ok(shape)
}

/// How the pixel values are stored.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sample {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Sample {
    fn size(self) -> usize {
        match self {
            Sample::I8 | Sample::U8 => 1,
            Sample::I16 | Sample::U16 => 2,
            Sample::I32 | Sample::U32 | Sample::F32 => 4,
            Sample::I64 | Sample::U64 | Sample::F64 => 8,
        }
    }

    /// From `ImageData.DataType`.
    fn from_data_type(code: u64) -> Option<Sample> {
        Some(match code {
            1 => Sample::I16,
            2 => Sample::F32,
            6 | 14 => Sample::U8,
            7 => Sample::I32,
            9 => Sample::I8,
            10 => Sample::U16,
            11 => Sample::U32,
            12 => Sample::F64,
            _ => return None,
        })
    }

    /// From the tag type of the data array's elements (files without a DataType).
    fn from_tag(elem: u64) -> Option<Sample> {
        Some(match elem {
            2 => Sample::I16,
            3 => Sample::I32,
            4 => Sample::U16,
            5 => Sample::U32,
            6 => Sample::F32,
            7 => Sample::F64,
            8 | 10 => Sample::U8,
            9 => Sample::I8,
            11 => Sample::I64,
            12 => Sample::U64,
            _ => return None,
        })
    }
}

fn sample_type(image: &DmImage) -> Result<Sample> {
    let code = image.data_type;
    if is_complex(code) {
        return Err(unsupported(format!(
            "complex data (DM data type {}), e.g. an FFT: not a HAADF image",
            code.unwrap_or_default()
        )));
    }
    if is_rgb(code) {
        return Err(unsupported(format!(
            "RGB colour data (DM data type {}): save the image as grayscale",
            code.unwrap_or_default()
        )));
    }
    match code {
        Some(c) => Sample::from_data_type(c)
            .ok_or_else(|| unsupported(format!("DM data type {c} is not supported"))),
        None => Sample::from_tag(image.data.elem).ok_or_else(|| {
            decode(format!(
                "the image data has elements of tag type {} and no DataType",
                image.data.elem
            ))
        }),
    }
}

/// Rounds to 6 significant digits for messages.
fn show(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let p = 10f64.powi(5 - v.abs().log10().floor() as i32);
    ((v * p).round() / p).to_string()
}

/// The pixel size (Å) when x and y agree; non-square pixels are refused.
fn square_pixel_size(image: &mut DmImage) -> Result<Option<f64>> {
    let (ax, ay) = match &image.axes[..] {
        [ax, ay, ..] => (ax, ay),
        _ => return Ok(image.axes.first().and_then(Axis::angstrom)),
    };
    match (ax.angstrom(), ay.angstrom()) {
        (Some(x), Some(y)) if (x - y).abs() > SQUARE_TOLERANCE * x.max(y) => {
            Err(unsupported(format!(
                "non-square pixels: {} Å/px along x ({} {}) but {} Å/px along y ({} {}); \
                 resample the image to square pixels and save it again",
                show(x),
                show(ax.scale),
                ax.units,
                show(y),
                show(ay.scale),
                ay.units
            )))
        }
        (Some(x), Some(_)) => Ok(Some(x)),
        (None, None) => Ok(None),
        _ => {
            image.warnings.push(format!(
                "only one image axis has a length unit (x '{}', y '{}'): no pixel size",
                ax.units, ay.units
            ));
            Ok(None)
        }
    }
}

/// Reads and converts the pixels, one frame at a time, after checking they lie in the file.
fn read_frames<R: Read + Seek>(
    src: &mut BufReader<R>,
    len: u64,
    image: &DmImage,
    sample: Sample,
    (w, h, n): (usize, usize, usize),
    pixel: Option<f64>,
) -> Result<Vec<Image>> {
    let data = &image.data;
    let pixels = (w as u64).saturating_mul(h as u64);
    let needed = pixels
        .saturating_mul(n as u64)
        .saturating_mul(sample.size() as u64);
    let held = data.count.checked_mul(data.elem_size);
    if held != Some(needed) {
        return Err(decode(format!(
            "ImageData.Data holds {} elements of {} bytes, but a {w}×{h}×{n} image of {:?} needs {needed} bytes",
            data.count, data.elem_size, sample
        )));
    }
    if data.offset.checked_add(needed).is_none_or(|end| end > len) {
        return Err(decode(format!(
            "the image data ({needed} bytes at byte {}) runs past the end of the file ({len} bytes)",
            data.offset
        )));
    }
    src.seek(SeekFrom::Start(data.offset))
        .map_err(|e| decode(format!("cannot seek to the image data ({e})")))?;
    let frame_bytes = pixels as usize * sample.size();
    // A buffer that stays in cache: the bytes are read and converted 1 MiB at a time.
    let mut buf = vec![0u8; frame_bytes.min(CHUNK)];
    let mut frames = Vec::with_capacity(n);
    for _ in 0..n {
        let mut values = Vec::with_capacity(pixels as usize);
        let mut left = frame_bytes;
        while left > 0 {
            let part = &mut buf[..left.min(CHUNK)];
            src.read_exact(part)
                .map_err(|e| decode(format!("cannot read the image data ({e})")))?;
            convert(part, sample, image.little, &mut values);
            left -= part.len();
        }
        frames.push(Image::from_vec(w, h, pixel, values));
    }
    Ok(frames)
}

/// Converts stored samples to `f32`, appending them to `out`.
fn convert(bytes: &[u8], sample: Sample, little: bool, out: &mut Vec<f32>) {
    macro_rules! each {
        ($ty:ty, $n:expr) => {{
            let chunks = bytes.chunks_exact($n);
            let word = |c: &[u8]| -> [u8; $n] { c.try_into().unwrap_or([0; $n]) };
            if little {
                out.extend(chunks.map(|c| <$ty>::from_le_bytes(word(c)) as f32))
            } else {
                out.extend(chunks.map(|c| <$ty>::from_be_bytes(word(c)) as f32))
            }
        }};
    }
    match sample {
        Sample::I8 => out.extend(bytes.iter().map(|&b| b as i8 as f32)),
        Sample::U8 => out.extend(bytes.iter().map(|&b| b as f32)),
        Sample::I16 => each!(i16, 2),
        Sample::U16 => each!(u16, 2),
        Sample::I32 => each!(i32, 4),
        Sample::U32 => each!(u32, 4),
        Sample::I64 => each!(i64, 8),
        Sample::U64 => each!(u64, 8),
        Sample::F32 => each!(f32, 4),
        Sample::F64 => each!(f64, 8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    // -----------------------------------------------------------------------------
    // A minimal DM writer, for files the tests control.

    /// A tag tree to write.
    enum T {
        Group(Vec<(String, T)>),
        U32(u32),
        F64(f64),
        Text(String),
        /// An array: element tag type, element count, bytes in the file's byte order.
        Array(u64, u64, Vec<u8>),
    }

    fn group(entries: Vec<(&str, T)>) -> T {
        T::Group(
            entries
                .into_iter()
                .map(|(n, t)| (n.to_string(), t))
                .collect(),
        )
    }

    fn list(items: Vec<T>) -> T {
        T::Group(items.into_iter().map(|t| (String::new(), t)).collect())
    }

    fn text(s: &str) -> T {
        T::Text(s.to_string())
    }

    struct Encoder {
        v4: bool,
        little: bool,
        out: Vec<u8>,
    }

    impl Encoder {
        fn count(&mut self, n: u64) {
            if self.v4 {
                self.out.extend(n.to_be_bytes());
            } else {
                self.out.extend((n as u32).to_be_bytes());
            }
        }

        fn entry(&mut self, name: &str, t: &T) {
            self.out
                .push(if matches!(t, T::Group(_)) { 20 } else { 21 });
            self.out.extend((name.len() as u16).to_be_bytes());
            self.out.extend(name.as_bytes());
            let size_at = self.out.len();
            if self.v4 {
                self.out.extend([0u8; 8]);
            }
            let start = self.out.len();
            self.body(t);
            if self.v4 {
                let size = (self.out.len() - start) as u64;
                self.out[size_at..start].copy_from_slice(&size.to_be_bytes());
            }
        }

        fn body(&mut self, t: &T) {
            let little = self.little;
            match t {
                T::Group(entries) => {
                    self.out.extend([0u8, 1]);
                    self.count(entries.len() as u64);
                    for (name, child) in entries {
                        self.entry(name, child);
                    }
                }
                T::U32(v) => {
                    let b = if little {
                        v.to_le_bytes()
                    } else {
                        v.to_be_bytes()
                    };
                    self.leaf(&[5], &b);
                }
                T::F64(v) => {
                    let b = if little {
                        v.to_le_bytes()
                    } else {
                        v.to_be_bytes()
                    };
                    self.leaf(&[7], &b);
                }
                T::Text(s) => {
                    let units: Vec<u16> = s.encode_utf16().collect();
                    let bytes: Vec<u8> = units
                        .iter()
                        .flat_map(|u| {
                            if little {
                                u.to_le_bytes()
                            } else {
                                u.to_be_bytes()
                            }
                        })
                        .collect();
                    self.leaf(&[20, 4, units.len() as u64], &bytes);
                }
                T::Array(elem, count, bytes) => self.leaf(&[20, *elem, *count], bytes),
            }
        }

        fn leaf(&mut self, info: &[u64], payload: &[u8]) {
            self.out.extend(b"%%%%");
            self.count(info.len() as u64);
            for &i in info {
                self.count(i);
            }
            self.out.extend(payload);
        }
    }

    fn encode(root: &T, v4: bool, little: bool) -> Vec<u8> {
        let mut e = Encoder {
            v4,
            little,
            out: Vec::new(),
        };
        e.out.extend((if v4 { 4u32 } else { 3 }).to_be_bytes());
        e.count(0);
        e.out.extend((little as u32).to_be_bytes());
        e.body(root);
        e.out.extend([0u8; 8]);
        let declared = (e.out.len() - 24) as u64;
        if v4 {
            e.out[4..12].copy_from_slice(&declared.to_be_bytes());
        } else {
            e.out[4..8].copy_from_slice(&(declared as u32).to_be_bytes());
        }
        e.out
    }

    /// Stores `data` as the DM data type `code`: (element tag type, bytes).
    fn samples(data: &[f32], code: u64, little: bool) -> (u64, Vec<u8>) {
        macro_rules! store {
            ($elem:expr, $ty:ty) => {
                (
                    $elem,
                    data.iter()
                        .flat_map(|&v| {
                            let v = v as $ty;
                            if little {
                                v.to_le_bytes()
                            } else {
                                v.to_be_bytes()
                            }
                        })
                        .collect(),
                )
            };
        }
        match code {
            1 => store!(2, i16),
            6 => store!(10, u8),
            7 => store!(3, i32),
            10 => store!(4, u16),
            11 | 23 => store!(5, u32),
            12 => store!(7, f64),
            _ => store!(6, f32),
        }
    }

    /// One image to write.
    struct TestImage<'a> {
        dims: Vec<usize>,
        data: &'a [f32],
        data_type: u64,
        /// (scale, units) per dimension.
        axes: Vec<(f64, &'a str)>,
        name: &'a str,
        signal: Option<&'a str>,
    }

    fn image_tags(signal: Option<&str>) -> T {
        let mut tags = vec![
            (
                "Microscope Info",
                group(vec![
                    ("Voltage", T::F64(200_000.0)),
                    ("Indicated Magnification", T::F64(2e6)),
                    ("Name", text("Test STEM")),
                ]),
            ),
            ("DigiScan", group(vec![("Sample Time", T::F64(2.5))])),
        ];
        if let Some(s) = signal {
            tags.push(("DataBar", group(vec![("Signal Name", text(s))])));
        }
        group(tags)
    }

    fn image_entry(img: &TestImage, little: bool) -> T {
        let (elem, bytes) = samples(img.data, img.data_type, little);
        let axes = img
            .axes
            .iter()
            .map(|&(scale, units)| {
                group(vec![
                    ("Origin", T::F64(0.0)),
                    ("Scale", T::F64(scale)),
                    ("Units", text(units)),
                ])
            })
            .collect();
        let dims = img.dims.iter().map(|&d| T::U32(d as u32)).collect();
        let image_data = group(vec![
            ("Calibrations", group(vec![("Dimension", list(axes))])),
            ("Data", T::Array(elem, img.data.len() as u64, bytes)),
            ("DataType", T::U32(img.data_type as u32)),
            ("Dimensions", list(dims)),
        ]);
        group(vec![
            ("ImageData", image_data),
            ("ImageTags", image_tags(img.signal)),
            ("Name", text(img.name)),
        ])
    }

    fn dm_bytes(images: &[TestImage], thumbnail: Option<usize>, v4: bool, little: bool) -> Vec<u8> {
        let entries = images.iter().map(|i| image_entry(i, little)).collect();
        let mut root = vec![("ImageList", list(entries))];
        if let Some(i) = thumbnail {
            let thumb = group(vec![("ImageIndex", T::U32(i as u32))]);
            root.push(("Thumbnails", list(vec![thumb])));
        }
        encode(&group(root), v4, little)
    }

    /// Writes a minimal valid little-endian DM4: a float32 thumbnail of constant 7.0
    /// (entry 0, named as the thumbnail by `Thumbnails`) when asked, then the image,
    /// calibrated in nm on x and y (and frames on z), detector "HAADF".
    pub(crate) fn write_dm4_for_tests(
        path: &Path,
        width: usize,
        height: usize,
        frames: usize,
        data: &[f32],
        pixel_size_nm: f64,
        with_thumbnail: bool,
    ) -> std::io::Result<()> {
        let thumb_data = vec![7.0f32; width * height];
        let mut images = Vec::new();
        if with_thumbnail {
            images.push(TestImage {
                dims: vec![width, height],
                data: &thumb_data,
                data_type: 2,
                axes: vec![(1.0, ""), (1.0, "")],
                name: "Image Of test",
                signal: None,
            });
        }
        let (mut dims, mut axes) = (vec![width, height], vec![(pixel_size_nm, "nm"); 2]);
        if frames > 1 {
            dims.push(frames);
            axes.push((1.0, ""));
        }
        images.push(TestImage {
            dims,
            data,
            data_type: 2,
            axes,
            name: "test",
            signal: Some("HAADF"),
        });
        let thumbnail = with_thumbnail.then_some(0);
        std::fs::write(path, dm_bytes(&images, thumbnail, true, true))
    }

    // -----------------------------------------------------------------------------
    // Helpers

    fn data_file(rel: &str) -> Option<PathBuf> {
        crate::io::shared_data(rel)
    }

    /// Reads DM bytes held in memory, as `read_dm` (square = true) would.
    fn load_bytes(bytes: &[u8], options: &ReadOptions) -> Result<(DmImage, Vec<Image>)> {
        let mut src = BufReader::new(Cursor::new(bytes));
        load(&mut src, bytes.len() as u64, options, true)
    }

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919) % 1000) as f32).collect()
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    // -----------------------------------------------------------------------------
    // Real files

    #[test]
    fn the_3d_int16_stack_reads_per_axis_and_is_refused_for_non_square_pixels() {
        let mut stacks = Vec::new();
        for ext in ["dm3", "dm4"] {
            let Some(p) = data_file(&format!("formats/dmTest_3D_int16_64,65,66.{ext}")) else {
                return;
            };
            let (img, frames) = read_dm_per_axis(&p, &ReadOptions::default()).unwrap();
            assert_eq!(img.index, 1, "entry 0 is the thumbnail");
            assert_eq!(img.dims, vec![64, 65, 66]);
            assert_eq!(img.data_type, Some(1), "int16");
            let a: Vec<f64> = img.axes.iter().map(|a| a.angstrom().unwrap()).collect();
            assert!(close(a[0], 0.02, 1e-9) && close(a[1], 30.0, 1e-9), "{a:?}");
            assert!(close(a[2], 4e4, 1e-9), "z is 4 µm: {a:?}");
            assert_eq!(img.axes[0].units, "pm");
            assert_eq!(frames.len(), 66);
            assert!(frames.iter().all(|f| f.width == 64 && f.height == 65));
            assert_eq!(frames[0].pixel_size_angstrom, Some(0.02));
            // Every pixel of the test stack holds its column index.
            for f in &frames {
                assert!(f
                    .data
                    .iter()
                    .enumerate()
                    .all(|(i, &v)| v == (i % 64) as f32));
            }
            let e = read_dm(&p, &ReadOptions::default()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unsupported);
            assert!(e.message.contains("0.02 Å/px") && e.message.contains("30 Å/px"));
            assert!(e.message.contains("resample") && e.path.as_deref() == Some(p.as_path()));
            eprintln!("{e}");
            stacks.push(frames);
        }
        assert_eq!(stacks[0], stacks[1], "dm3 and dm4 hold the same pixels");
    }

    #[test]
    fn the_non_square_float32_image_is_refused_with_both_pixel_sizes() {
        let mut images = Vec::new();
        for ext in ["dm3", "dm4"] {
            let rel = format!("formats/dmTest_float32_nonSquare_diffPixelSize.{ext}");
            let Some(p) = data_file(&rel) else { return };
            let e = read_dm(&p, &ReadOptions::default()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unsupported);
            assert!(
                e.message.contains("10 Å/px along x (1 nm)"),
                "{}",
                e.message
            );
            assert!(e.message.contains("2 Å/px along y (2 A)"), "{}", e.message);
            let (img, frames) = read_dm_per_axis(&p, &ReadOptions::default()).unwrap();
            assert_eq!(
                (img.dims[0], img.dims[1], img.data_type),
                (128, 64, Some(2))
            );
            assert_eq!(img.axes[0].angstrom(), Some(10.0));
            assert_eq!(img.axes[1].angstrom(), Some(2.0));
            assert_eq!(frames.len(), 1);
            assert_eq!((frames[0].width, frames[0].height), (128, 64));
            assert!(frames[0]
                .data
                .iter()
                .enumerate()
                .all(|(i, &v)| v == (i % 128) as f32));
            images.push(frames);
        }
        assert_eq!(images[0], images[1]);
    }

    #[test]
    fn a_spectrum_is_refused_in_one_line() {
        let Some(p) = data_file("formats/08_carbon.dm3") else {
            return;
        };
        let e = read_dm(&p, &ReadOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert_eq!(e.message, "not an image: a 1D spectrum of 2048 channels");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn the_digiscan_adf_images_read_with_calibration_and_acquisition() {
        for (name, det, first) in [
            ("adf1", "ADF1", [1053327.0, 899855.0]),
            ("adf2", "ADF2", [1119314.0, 1143701.0]),
        ] {
            let Some(p) = data_file(&format!("real/wse2_ti_doped_{name}_2.dm4")) else {
                return;
            };
            let (img, _) = read_dm_per_axis(&p, &ReadOptions::default()).unwrap();
            assert_eq!(
                (img.index, img.data_type),
                (1, Some(11)),
                "uint32 image, entry 1"
            );
            let t = Instant::now();
            let loaded = read_dm(&p, &ReadOptions::default()).unwrap();
            eprintln!("{name}: read in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(loaded.frames.len(), 1);
            let f = &loaded.frames[0];
            assert_eq!((f.width, f.height), (512, 512));
            assert_eq!(&f.data[..2], &first);
            // Scale 0.03987935 nm (stored as f32) on both axes.
            let px = f.pixel_size_angstrom.unwrap();
            assert!(
                close(px, 0.3987935185432434, 1e-6) && close(px, 0.3988, 1e-4),
                "{px}"
            );
            let a = &loaded.acquisition;
            assert_eq!(a.voltage_kv, Some(80.0));
            assert_eq!(a.detector.as_deref(), Some(det));
            assert_eq!(a.dwell_time_us, Some(38.0));
            assert_eq!(a.magnification, Some(1e7));
            assert_eq!(a.microscope.as_deref(), Some("JEOL COM"));
            assert_eq!((a.convergence_mrad, a.detector_inner_mrad), (None, None));
            assert!(a.detectors_in_file.is_empty());
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
            let o = ReadOptions {
                detector: Some("HAADF".into()),
                ..ReadOptions::default()
            };
            let w = read_dm(&p, &o).unwrap().warnings;
            assert!(w[0].contains(&format!("only the {det} image")), "{w:?}");
        }
    }

    // -----------------------------------------------------------------------------
    // Corrupt input

    /// A tiny xorshift generator: deterministic corruption without a dependency.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn corrupt_inputs() -> Vec<Vec<u8>> {
        let mut files = vec![dm_bytes(
            &[TestImage {
                dims: vec![16, 12],
                data: &ramp(192),
                data_type: 10,
                axes: vec![(0.1, "nm"), (0.1, "nm")],
                name: "t",
                signal: Some("HAADF"),
            }],
            None,
            false,
            false,
        )];
        for rel in [
            "real/wse2_ti_doped_adf1_2.dm4",
            "formats/dmTest_float32_nonSquare_diffPixelSize.dm3",
            "formats/dmTest_3D_int16_64,65,66.dm4",
        ] {
            if let Some(p) = data_file(rel) {
                files.push(std::fs::read(p).unwrap());
            }
        }
        files
    }

    #[test]
    fn truncated_files_are_errors_never_panics() {
        let options = ReadOptions::default();
        for bytes in corrupt_inputs() {
            let len = bytes.len();
            let mut cuts: Vec<usize> = (0..len.min(40_000)).step_by(97).collect();
            cuts.extend([
                1,
                4,
                8,
                12,
                15,
                16,
                17,
                len / 3,
                len / 2,
                len - 9,
                len - 8,
                len - 1,
            ]);
            for cut in cuts {
                let t = Instant::now();
                let r = load_bytes(&bytes[..cut], &options);
                assert!(t.elapsed() < Duration::from_secs(1), "cut at {cut} is slow");
                // Cut inside the 8-byte trailer, the tree and data are intact.
                if cut < len - 8 {
                    let e = r.unwrap_err();
                    assert_eq!(e.kind, ErrorKind::Decode, "cut at {cut}: {e}");
                }
            }
        }
    }

    #[test]
    fn scrambled_files_are_errors_or_images_never_panics() {
        let options = ReadOptions::default();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let (mut ok, mut err) = (0, 0);
        for bytes in corrupt_inputs() {
            // Flip bytes in the tag tree before the image data, where counts live.
            let span = bytes.len().min(12_000);
            for round in 0..300 {
                let mut b = bytes.clone();
                for _ in 0..1 + round % 6 {
                    let at = xorshift(&mut state) as usize % span;
                    b[at] ^= (xorshift(&mut state) % 255 + 1) as u8;
                }
                let t = Instant::now();
                match load_bytes(&b, &options) {
                    Ok((_, frames)) => {
                        ok += 1;
                        assert!(frames.iter().all(|f| f.data.len() == f.width * f.height));
                    }
                    Err(_) => err += 1,
                }
                assert!(
                    t.elapsed() < Duration::from_secs(1),
                    "round {round} is slow"
                );
            }
        }
        eprintln!("scrambled: {ok} read, {err} refused");
        assert!(err > 0);
    }

    #[test]
    fn hostile_headers_are_refused() {
        let o = ReadOptions::default();
        let e = load_bytes(b"", &o).unwrap_err();
        assert!(e.message.contains("too short"), "{e}");
        let mut b = vec![0u8; 64];
        b[3] = 5;
        assert!(load_bytes(&b, &o)
            .unwrap_err()
            .message
            .contains("version field reads 5"));
        // A DM4 root group declaring 2^64 - 1 tags: ends with the file, quickly.
        let mut b = vec![0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
        b.extend([0xff; 8]);
        assert_eq!(load_bytes(&b, &o).unwrap_err().kind, ErrorKind::Decode);
        // Groups nested 100 deep: refused at 64.
        let mut b = vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1];
        for _ in 0..100 {
            b.extend([0, 1, 0, 0, 0, 1, 20, 0, 1, b'g']);
        }
        let e = load_bytes(&b, &o).unwrap_err();
        assert!(e.message.contains("nest deeper than 64"), "{e}");
    }

    // -----------------------------------------------------------------------------
    // Written files

    #[test]
    fn the_image_is_read_and_not_the_thumbnail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.dm4");
        let data = ramp(40 * 30 * 3);
        write_dm4_for_tests(&p, 40, 30, 3, &data, 0.05, true).unwrap();
        let loaded = read_dm(&p, &ReadOptions::default()).unwrap();
        assert_eq!(loaded.frames.len(), 3);
        for (k, f) in loaded.frames.iter().enumerate() {
            assert_eq!((f.width, f.height), (40, 30));
            assert_eq!(f.pixel_size_angstrom, Some(0.5));
            assert_eq!(f.data, &data[k * 1200..(k + 1) * 1200]);
        }
        let a = &loaded.acquisition;
        assert_eq!((a.voltage_kv, a.magnification), (Some(200.0), Some(2e6)));
        assert_eq!(
            (a.dwell_time_us, a.detector.as_deref()),
            (Some(2.5), Some("HAADF"))
        );
        assert_eq!(a.microscope.as_deref(), Some("Test STEM"));
        // Without the Thumbnails tag both entries are candidates: picked by detector.
        write_dm4_for_tests(&p, 8, 8, 1, &ramp(64), 0.02, false).unwrap();
        let f = &read_dm(&p, &ReadOptions::default()).unwrap().frames[0];
        assert_eq!(
            (f.data[..64].to_vec(), f.pixel_size_angstrom),
            (ramp(64), Some(0.2))
        );
    }

    fn adf_pair(code: u64, little: bool, v4: bool) -> Vec<u8> {
        let (d1, d2) = (ramp(64), vec![3.0f32; 64]);
        let image = |data, name| TestImage {
            dims: vec![8, 8],
            data,
            data_type: code,
            axes: vec![(5.0, "\u{b5}m"), (5.0, "µm")],
            name,
            signal: Some(name),
        };
        let rgb = TestImage {
            data_type: 23,
            signal: None,
            ..image(&d2, "thumb")
        };
        dm_bytes(
            &[rgb, image(&d1, "ADF1"), image(&d2, "ADF2")],
            None,
            v4,
            little,
        )
    }

    #[test]
    fn several_detectors_are_picked_by_name_in_every_byte_order_and_type() {
        for (code, little, v4) in [
            (2, true, true),
            (1, false, false),
            (10, true, false),
            (11, false, true),
            (12, true, true),
            (6, false, true),
            (7, true, false),
        ] {
            let bytes = adf_pair(code, little, v4);
            let (img, frames) = load_bytes(&bytes, &ReadOptions::default()).unwrap();
            assert_eq!(img.index, 2, "ADF2 by default (the RGB entry is skipped)");
            assert_eq!(frames[0].data, vec![3.0; 64]);
            assert_eq!(frames[0].pixel_size_angstrom, Some(5e4));
            assert_eq!(img.acquisition.detectors_in_file, ["ADF1", "ADF2"]);
            assert!(img.warnings[0].contains("read the ADF2 one"));
            let o = ReadOptions {
                detector: Some("adf1".into()),
                ..ReadOptions::default()
            };
            let (img, frames) = load_bytes(&bytes, &o).unwrap();
            assert_eq!(
                (img.index, img.acquisition.detector.as_deref()),
                (1, Some("ADF1"))
            );
            let want: Vec<f32> = ramp(64)
                .iter()
                .map(|&v| if code == 6 { v as u8 as f32 } else { v })
                .collect();
            assert_eq!(frames[0].data, want, "type {code}");
            let o = ReadOptions {
                detector: Some("HAADF".into()),
                ..ReadOptions::default()
            };
            assert_eq!(
                load_bytes(&bytes, &o).unwrap_err().kind,
                ErrorKind::InvalidParameter
            );
        }
    }

    #[test]
    fn colour_complex_oversized_and_mismatched_data_are_refused() {
        let one = |code, dims: Vec<usize>, n| {
            let data = ramp(n);
            let img = TestImage {
                dims,
                data: &data,
                data_type: code,
                axes: vec![(1.0, "nm"), (1.0, "nm")],
                name: "x",
                signal: None,
            };
            load_bytes(&dm_bytes(&[img], None, true, true), &ReadOptions::default())
        };
        let e = one(23, vec![8, 8], 64).unwrap_err();
        assert!(
            e.kind == ErrorKind::Unsupported && e.message.contains("RGB"),
            "{e}"
        );
        let e = one(3, vec![8, 8], 128).unwrap_err();
        assert!(
            e.kind == ErrorKind::Unsupported && e.message.contains("complex"),
            "{e}"
        );
        let e = one(2, vec![70000, 70000], 64).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
        let e = one(2, vec![8, 9], 64).unwrap_err();
        assert!(
            e.kind == ErrorKind::Decode && e.message.contains("8×9×1"),
            "{e}"
        );
        let e = one(2, vec![4, 4, 2, 2], 64).unwrap_err();
        assert!(e.message.contains("4-dimensional"), "{e}");
    }

    #[test]
    fn a_4096_square_float32_dm4_reads_quickly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.dm4");
        let n = 4096;
        let data = ramp(n * n);
        write_dm4_for_tests(&p, n, n, 1, &data, 0.01, true).unwrap();
        let _warm = std::fs::read(&p).unwrap();
        let t = Instant::now();
        let loaded = read_dm(&p, &ReadOptions::default()).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        eprintln!("4096² float32 DM4 read in {ms:.1} ms");
        assert_eq!(loaded.frames[0].data, data);
        assert_eq!(loaded.frames[0].pixel_size_angstrom, Some(0.1));
        if !cfg!(debug_assertions) {
            assert!(ms < 400.0, "{ms} ms");
        }
    }
}

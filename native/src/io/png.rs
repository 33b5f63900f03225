//! 8-bit PNG previews for people to look at.

use super::frames::{to_gray, Acquisition, Loaded, ReadOptions, MAX_EXPANSION};
use crate::error::{Error, Result};
use crate::image::Image;
use std::fs::File;
use std::io::BufReader;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Write gray or RGB bytes (`channels` = 1 or 3) as a PNG.
pub fn write(
    path: &Path,
    width: usize,
    height: usize,
    channels: usize,
    bytes: &[u8],
) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = BufWriter::new(file);
    let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
    enc.set_color(if channels == 3 {
        png::ColorType::Rgb
    } else {
        png::ColorType::Grayscale
    });
    enc.set_depth(png::BitDepth::Eight);
    // Previews: fast deflate keeps a 4096² overlay well under a second.
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header().map_err(|e| Error::io(path, e))?;
    w.write_image_data(bytes).map_err(|e| Error::io(path, e))?;
    w.finish().map_err(|e| Error::io(path, e))?;
    // A failed flush (a full disk) is an error here, not lost in a drop.
    out.flush().map_err(|e| Error::io(path, e))
}

/// Map an image to 0..255 between its 0.1 % and 99.9 % percentiles, so one hot pixel
/// does not wash out the lattice.
pub fn to_display_bytes(data: &[f32]) -> Vec<u8> {
    // A display stretch needs no exact percentiles: beyond 4 M pixels a regular
    // subsample is as good and keeps an 8192² frame from copying 256 MB.
    let step = (data.len() / (1 << 22)).max(1);
    let mut sorted: Vec<f32> = data
        .iter()
        .step_by(step)
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if sorted.is_empty() {
        return vec![0; data.len()];
    }
    // Two order statistics, not a full sort: O(n) matters on 4096² frames.
    let n = sorted.len();
    let lo = *sorted.select_nth_unstable_by(n / 1000, f32::total_cmp).1;
    let hi = *sorted
        .select_nth_unstable_by(n - 1 - n / 1000, f32::total_cmp)
        .1;
    let range = (hi - lo).max(1e-12);
    data.iter()
        .map(|&v| (((v - lo) / range).clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

pub(crate) fn read_png(path: &Path, options: &ReadOptions) -> Result<Loaded> {
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
    /// A write that cannot reach the disk is an error, for the small files that sit in
    /// the buffer until the end as for large ones (`/dev/full`: every write fails).
    #[test]
    fn a_full_disk_is_an_error() {
        let full = std::path::Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        assert!(super::write(full, 4, 4, 1, &[0u8; 16]).is_err());
        assert!(crate::io::tiff::write_u8(full, 4, 4, &[0u8; 16], Some(0.1)).is_err());
        assert!(crate::io::npy::write(full, &[4], &[0u8; 4]).is_err());
    }
}

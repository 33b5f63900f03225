//! Where the analyzed pixels came from, as the caller knows it: the engine sees only
//! pixels and a pixel size, and the report's `image` section names the file, the
//! frame, the acquisition and where the pixel size came from.

pub use crate::findings::PixelSizeSource;
use crate::io::Acquisition;

/// The image's provenance, written into the report's `image` section. The default is
/// a single image with no path whose pixel size the caller passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The file, as the caller names it ("" when the pixels came from memory).
    pub path: String,
    pub pixel_size_source: PixelSizeSource,
    /// Frame index within a stack, and the stack's frame count (0 and 1 for an image).
    pub frame: usize,
    pub frames: usize,
    /// What the file says about the acquisition.
    pub acquisition: Acquisition,
    /// What the file's reader said (an RGB file made gray, the detector chosen, …); they
    /// follow the analysis's own warnings in the report.
    pub reader_warnings: Vec<String>,
}

impl Default for Source {
    fn default() -> Self {
        Source {
            path: String::new(),
            pixel_size_source: PixelSizeSource::Argument,
            frame: 0,
            frames: 1,
            acquisition: Acquisition::default(),
            reader_warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in PixelSizeSource::ALL {
            assert_eq!(PixelSizeSource::from_name(s.name()), Some(s));
        }
        assert_eq!(PixelSizeSource::from_name("guess"), None);
        assert_eq!(PixelSizeSource::File.to_string(), "file");
    }
}
